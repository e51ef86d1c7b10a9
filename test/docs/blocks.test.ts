// Every fenced shell block (sh, bash, shell, console) of README.md and docs/ runs here, or says
// why it cannot: a `<!-- not-runnable: reason -->` line right before the fence (real Buildkite,
// a cloud KMS, an hour's wait). A block that is neither marked nor run fails this file, so the
// docs cannot drift from the code. docs/ci/ tests its own blocks; docs/reference/ is generated.
//
// How a page runs: its blocks, in order, are one terminal session of a new user, with the built
// `bktx` on PATH, a temporary HOME and working directory, and nothing of this machine's
// environment but PATH. Exported variables and the directory carry from one block to the next
// (each block runs under `set -a`, so plain assignments carry too). Each block must exit 0.
//
// The Buildkite side is the bundled reference server, started in this process with the values
// the docs use (org `acme`, members dev@acme.test and ci-bot@acme.test, client ID
// 0123456789abcdef0123, scopes read_builds, read_pipelines, read_user). The substitutions:
// - BKTX_TOKEN_URL points at it (the environment wins over a profile, so `config set` lines
//   need no change; a `--token-url` flag would still win, so the docs write none for Buildkite);
// - `https://api.buildkite.com` in a block becomes the server's URL;
// - the fixed ports the docs use for servers a block starts itself (8787, 8788) become free
//   ports, so parallel test files never collide.
// "Registering the JWKS in Buildkite's settings" is done the way a user does it, after each
// block: the server's app has a JWKS URI answered from what the user has at that point (the
// public keys of every profile, `bktx jwks --profile P`, and every JWKS or PEM file in the
// working directory), so a block that makes a key is followed by one that can use it, and a
// block cannot use a key it made itself. Those `bktx jwks` runs are the CLI run in this process
// (src/main.ts, the source the binary is built from): a Node start for each was a third of
// this file's CPU time. They run again only when what they read has changed.
//
// Pages are independent sessions, each with its own server: they run concurrently, and the
// blocks of a page in order. A page runs one process at a time; side by side they keep both
// cores busy and overlap the waits (servers starting, retries). The CPU the blocks cost is the
// same: on a machine that is busy already, only the in-process registration makes it cheaper.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { BIN } from '../helpers/spawn.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import { runSoftHsm } from '../fixtures/softhsm.js'
import { blocks, markdownFiles, type Block } from './markdown.js'
import { CODE_CACHE } from '../helpers/code-cache.js'

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console'])
const FILES = markdownFiles({ exclude: ['docs/ci/', 'docs/reference/'] })
const ALL = FILES.flatMap(blocks).filter((block) => SHELL_LANGS.has(block.lang))
const RUNNABLE = ALL.filter((block) => block.notRunnable === undefined)

// Blocks that need a tool the tests may not have: skipped with the reason where it is missing,
// except in CI, where they run and fail (as test/e2e/pkcs11.test.ts does).
const TOOLS: { pattern: RegExp; available: boolean; reason: string }[] = [
  { pattern: /softhsm2-util|pkcs11-tool|--profile hsm/, available: runSoftHsm, reason: 'SoftHSM2 and opensc (apt-get install softhsm2 opensc)' },
]

// The values every page uses for its organisation and application.
const CLIENT_ID = '0123456789abcdef0123'
const JWKS_URI = 'https://jwks.docs.test/.well-known/jwks.json'
const BLOCK_KILL_MS = 150_000
// Pages whose blocks start their own `bktx server` and point `token-url` at it: the session's
// server is not imposed on them through BKTX_TOKEN_URL.
const OWN_SERVER = new Set(['docs/reference-server.md'])

/** Ports handed to a session: the sessions start at the same time, and never share one. */
const HANDED_OUT = new Set<number>()

async function freePort(): Promise<number> {
  for (;;) {
    const port = await probePort()
    if (HANDED_OUT.has(port)) continue
    HANDED_OUT.add(port)
    return port
  }
}

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

interface Session {
  file: string
  home: string
  work: string
  state: string
  bin: string
  server: RunningServer
  ports: Map<string, number>
  /** Process groups of the blocks run so far, killed when the session ends. */
  groups: number[]
  registered: { keys: unknown[] }
  /** What the `bktx jwks` runs printed (empty when they failed), by everything they read. */
  jwks: Map<string, string>
}

/** What a short command prints on stdout (its stdin closed: nothing is written to it). */
function output(file: string, args: string[], env: Record<string, string>, cwd?: string): Promise<string> {
  const child = spawn(file, args, { env, cwd, stdio: ['ignore', 'pipe', 'ignore'] })
  let stdout = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve(code === 0 ? stdout : '')
    })
  })
}

/**
 * The environment the session has saved, as an object: the session's own, with what the last
 * block had exported when it ended over it (env.0, which its EXIT trap writes beside env.sh).
 */
function sessionEnv(session: Session): Record<string, string> {
  const env: Record<string, string> = baseEnv(session)
  const file = join(session.state, 'env.0')
  if (!existsSync(file)) return env
  for (const entry of readFileSync(file, 'utf8').split('\0')) {
    const eq = entry.indexOf('=')
    if (eq > 0 && entry.slice(0, eq) !== 'BKTX_DOCS_STATE') env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  return env
}

function baseEnv(session: Session): Record<string, string> {
  return {
    PATH: `${session.bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    HOME: session.home,
    // A private runtime directory: the file cache lives there, apart from this machine's.
    XDG_RUNTIME_DIR: join(session.home, 'run'),
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    ...CODE_CACHE,
    ...(OWN_SERVER.has(session.file) ? {} : { BKTX_TOKEN_URL: session.server.tokenUrl }),
  }
}

/** What the user would paste into Buildkite's settings now: every key they have made. */
async function register(session: Session): Promise<void> {
  const env = sessionEnv(session)
  const cwd = readCwd(session)
  const keys: unknown[] = []
  const seen = new Set<string>()
  const add = (jwks: unknown) => {
    for (const key of (jwks as { keys?: unknown[] } | null)?.keys ?? []) {
      const id = JSON.stringify(key)
      if (!seen.has(id)) seen.add(id), keys.push(key)
    }
  }
  const configPath = env['BKTX_CONFIG'] ?? join(env['XDG_CONFIG_HOME'] ?? join(session.home, '.config'), 'bktx', 'config.json')
  const config = existsSync(configPath) ? readFileSync(configPath, 'utf8') : undefined
  const jwksOf = async (args: string[], profile?: unknown) => {
    // Run again only when something it reads has changed: the arguments, the directory, the
    // environment, the config, and the files they name (a key, a public key), which a block can
    // replace under the same name (keygen --force).
    const named = [...args, ...Object.values(profile ?? {})]
      .filter((value): value is string => typeof value === 'string')
      .map((value) => resolve(cwd, value))
      .filter((path) => existsSync(path) && statSync(path).isFile())
      .map((path) => readFileSync(path, 'utf8'))
    const id = JSON.stringify([args, cwd, env, config, named])
    if (!session.jwks.has(id)) {
      // A PKCS#11 key's public half comes from the record keygen made, else from the token: then
      // bktx loads the module, which reads its settings (SoftHSM's SOFTHSM2_CONF) from the
      // environment of the process, not from the env bktx is given, and would stay loaded in this
      // one. So those runs start the built binary; the others run the CLI in this process.
      const pkcs11 = JSON.stringify([profile, env['BKTX_KEY']]).includes('pkcs11:')
      if (pkcs11) session.jwks.set(id, await output(process.execPath, [BIN, 'jwks', ...args], env, cwd))
      else {
        const run = await runCli(['jwks', ...args], { env, cwd, home: session.home })
        session.jwks.set(id, run.code === 0 ? run.stdout : '')
      }
    }
    const stdout = session.jwks.get(id)
    if (stdout) add(JSON.parse(stdout))
  }
  if (config !== undefined) {
    const profiles = (JSON.parse(config) as { profiles?: Record<string, unknown> }).profiles ?? {}
    for (const [name, profile] of Object.entries(profiles)) await jwksOf(['--profile', name], profile)
  }
  for (const name of existsSync(cwd) ? readdirSync(cwd) : []) {
    const path = join(cwd, name)
    if (name.endsWith('.json')) {
      try {
        add(JSON.parse(readFileSync(path, 'utf8')))
      } catch {
        // not a JWKS
      }
    } else if (name.endsWith('.pem')) await jwksOf(['--key', path])
  }
  session.registered = { keys }
}

function readCwd(session: Session): string {
  const file = join(session.state, 'cwd')
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : session.work
}

/** The block as the session runs it: the substitutions above, console prompts stripped. */
function script(block: Block, session: Session): string {
  let text = block.text
  if (block.lang === 'console')
    text = text
      .split('\n')
      .filter((line) => line.startsWith('$ '))
      .map((line) => line.slice(2))
      .join('\n')
  text = text.replaceAll('https://api.buildkite.com', session.server.url)
  for (const [port, free] of session.ports) text = text.replaceAll(`127.0.0.1:${port}`, `127.0.0.1:${free}`).replaceAll(`--port ${port}`, `--port ${free}`)
  return text
}

interface BlockRun {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
}

function runBlock(block: Block, session: Session): Promise<BlockRun> {
  const wrapper = [
    // When the block ends: env.sh for the next block to source, env.0 (NAME=VALUE, each ended by
    // a NUL, as `env -0` prints them) for register() to read, and the directory; with builtins
    // only, so saving starts no process. Defined before `set -a`, which would export it.
    'bktx_docs_save() {',
    '  set +a',
    // (Names of its own that no block uses: the loop reads the variables by name.)
    '  local bktx_docs_state="$BKTX_DOCS_STATE" bktx_docs_name bktx_docs_names',
    '  export -n BKTX_DOCS_STATE',
    '  export -p > "$bktx_docs_state/env.sh"',
    '  pwd > "$bktx_docs_state/cwd"',
    '  compgen -e > "$bktx_docs_state/env.names"',
    '  mapfile -t bktx_docs_names < "$bktx_docs_state/env.names"',
    '  for bktx_docs_name in "${bktx_docs_names[@]}"; do',
    `    [ -z "\${!bktx_docs_name+set}" ] || printf '%s=%s\\0' "$bktx_docs_name" "\${!bktx_docs_name}"`,
    '  done > "$bktx_docs_state/env.0"',
    '}',
    'trap bktx_docs_save EXIT',
    // The directory the last block ended in; a block never runs anywhere else.
    '{ IFS= read -r bktx_docs_cwd || [ -n "$bktx_docs_cwd" ]; } < "$BKTX_DOCS_STATE/cwd" && cd "$bktx_docs_cwd" || exit 90',
    'unset bktx_docs_cwd',
    'set -a',
    `[ -f "$BKTX_DOCS_STATE/env.sh" ] && . "$BKTX_DOCS_STATE/env.sh"`,
    'set -e -o pipefail',
    script(block, session),
  ].join('\n')
  const child = spawn('bash', ['-c', wrapper], {
    env: { ...baseEnv(session), BKTX_DOCS_STATE: session.state },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), BLOCK_KILL_MS)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      // What the block left running in the background (a server it started) lives on for the
      // next blocks, as in a terminal, and ends with the session.
      if (child.pid !== undefined) session.groups.push(child.pid)
      resolve({ code, signal, output })
    })
  })
}

async function startSession(file: string): Promise<Session> {
  const root = await mkdtemp(join(tmpdir(), 'bktx-docs-'))
  const home = join(root, 'home')
  const work = join(home, 'work')
  const state = join(root, 'state')
  const bin = join(root, 'bin')
  for (const dir of [home, work, state, bin, join(home, 'run')]) await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFile(join(bin, 'bktx'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
  await chmod(join(bin, 'bktx'), 0o755)
  await writeFile(join(state, 'cwd'), work)
  const session = {
    file,
    home,
    work,
    state,
    bin,
    ports: new Map<string, number>(),
    groups: [] as number[],
    registered: { keys: [] as unknown[] },
    jwks: new Map(),
  } as Session
  for (const port of ['8787', '8788']) session.ports.set(port, await freePort())
  session.server = await startServer({
    doc: {
      organizations: [
        {
          slug: 'acme',
          members: [
            { email: 'dev@acme.test', name: 'Dev' },
            { email: 'ci-bot@acme.test', name: 'CI' },
          ],
        },
      ],
      apps: [
        {
          client_id: CLIENT_ID,
          org: 'acme',
          name: 'docs',
          jwks_uri: JWKS_URI,
          grantable_scopes: ['read_builds', 'read_pipelines', 'read_user'],
          default_scopes: ['read_builds'],
          max_ttl: 3600,
        },
      ],
    },
    jwksCooldownMs: 0,
    fetch: async (input) => {
      if (String(input) !== JWKS_URI) return new Response('not found', { status: 404 })
      return new Response(JSON.stringify(session.registered), { status: 200, headers: { 'content-type': 'application/json' } })
    },
  })
  return session
}

describe('docs: every shell block is run or marked', () => {
  it('finds the blocks', () => {
    expect(ALL.length).toBeGreaterThan(20)
    expect(RUNNABLE.length).toBeGreaterThan(10)
  })

  it('each marker gives a reason', () => {
    for (const block of ALL) if (block.notRunnable !== undefined) expect(block.notRunnable.length, `${block.file}:${block.line}`).toBeGreaterThan(8)
  })

  it('the README quick start, its daily use, the reference server and the PKCS#11 recipe are among the runnable ones', () => {
    const runnable = (file: string, text: string) => RUNNABLE.some((block) => block.file === file && block.text.includes(text))
    expect(runnable('README.md', 'bktx keygen')).toBe(true)
    expect(runnable('README.md', 'bktx token --scope read_builds')).toBe(true)
    expect(runnable('README.md', 'eval "$(bktx env')).toBe(true)
    expect(runnable('README.md', 'bktx whoami')).toBe(true)
    expect(runnable('docs/reference-server.md', 'curl')).toBe(true)
    expect(runnable('docs/key-sources.md', 'softhsm2-util --init-token')).toBe(true)
  })
})

// The pages that run most bktx commands start first, so that the last to finish is a short one
// (vitest runs at most maxConcurrency suites at a time, in the order they are declared).
const bktxRuns = (file: string) =>
  RUNNABLE.filter((block) => block.file === file).reduce((n, block) => n + (block.text.match(/^\s*[^#\n]*\bbktx\b/gm)?.length ?? 0), 0)
for (const file of [...FILES].sort((a, b) => bktxRuns(b) - bktxRuns(a))) {
  const runnable = RUNNABLE.filter((block) => block.file === file)
  if (runnable.length === 0) continue
  // A concurrent suite runs beside the other pages; its tests, sequential, run one after another.
  describe.concurrent(`docs: ${file}`, () => {
    let session: Session
    beforeAll(async () => {
      session = await startSession(file)
    }, 60_000)
    afterAll(async () => {
      for (const group of session?.groups ?? [])
        try {
          process.kill(-group, 'SIGTERM')
        } catch {
          // that block left nothing running
        }
      await session?.server.stop()
      if (session) await rm(join(session.home, '..'), { recursive: true, force: true })
    })
    for (const block of runnable) {
      it.sequential(
        `${file}:${block.line}`,
        async (context) => {
          const tool = TOOLS.find((t) => t.pattern.test(block.text) && !t.available)
          if (tool) {
            console.warn(`${file}:${block.line} needs ${tool.reason}: skipped`)
            context.skip()
          }
          const run = await runBlock(block, session)
          // The test's own expect: tests of other pages run at the same time.
          context.expect({ code: run.code, signal: run.signal }, `${file}:${block.line} failed; its output:\n${run.output}`).toEqual({ code: 0, signal: null })
          await register(session)
        },
        BLOCK_KILL_MS + 30_000,
      )
    }
  })
}
