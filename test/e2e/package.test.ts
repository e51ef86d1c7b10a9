import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

// The packed tarball, installed globally into an empty prefix, used from another directory:
// what `npm install -g bktx` gives a user. npm test builds dist/ first.
let dir: string
let tarball: string
let bktx: string
let env: Record<string, string>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-pack-'))
  const { files } = inject('packed')
  expect(
    files.every((f) =>
      /^(bin|dist)\/|^(README\.md|SECURITY\.md|LICENSE|package\.json|docs\/token-exchange\.md|docs\/reference\/[A-Za-z-]+\.md|man\/bktx\.1)$/.test(f),
    ),
    files.join(' '),
  ).toBe(true)
  tarball = inject('packed').tarball
  const prefix = join(dir, 'prefix')
  // bktx has no install script of its own; --ignore-scripts skips only pkcs11js's native build
  // (a C++ compile, about 5 CPU-seconds), which nothing here uses: bktx loads it only for a
  // PKCS#11 key (test/e2e/pkcs11.test.ts), and an optional dependency that fails to build does
  // not fail the install.
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], { cwd: dir })
  bktx = join(prefix, 'bin', 'bktx')
  // package.json "man": npm links the manual page where man finds it.
  await access(join(prefix, 'share', 'man', 'man1', 'bktx.1'))
  const home = join(dir, 'home')
  await mkdir(join(home, 'run'), { recursive: true, mode: 0o700 })
  env = {
    PATH: process.env['PATH'] ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_RUNTIME_DIR: join(home, 'run'),
  }
}, 120_000)
afterAll(() => rm(dir, { recursive: true, force: true }))

async function cli(args: string[], extra: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return run(bktx, args, { cwd: dir, env: { ...env, ...extra } })
}

/** Runs a dev tool from node_modules/.bin on the tarball; fails with its report unless it exits 0. */
async function passes(tool: string, args: string[]): Promise<void> {
  const result = await run(join(ROOT, 'node_modules', '.bin', tool), args, { cwd: dir }).then(
    ({ stdout, stderr }) => ({ code: 0, report: stdout + stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, report: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  )
  expect(result.code, `${tool} ${args.join(' ')}\n${result.report}`).toBe(0)
}

describe('the packed tarball, as the registry would serve it', () => {
  // Both tools read the local tarball, so they see exactly what npm publish would upload.
  it('passes publint --strict: exports, types and files point at files that are packed', async () => {
    await passes('publint', ['run', tarball, '--strict'])
  }, 60_000)

  // bktx is ESM only ("type": "module", no require condition, Node >= 20), so the esm-only
  // profile leaves out the CommonJS resolutions (node10, node16 from require). bktx ships its
  // own types: --no-definitely-typed keeps attw from asking the registry for @types/bktx.
  it('passes arethetypeswrong: every entry point has types for node16 ESM and bundlers', async () => {
    await passes('attw', [tarball, '--profile', 'esm-only', '--no-definitely-typed', '--no-color', '--no-emoji'])
  }, 60_000)
})

describe('the packed tarball, installed with npm install -g', () => {
  it('prints the package version and help from any directory', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect((await cli(['--version'])).stdout).toBe(`${pkg.version}\n`)
    expect((await cli(['--help'])).stdout).toMatch(/Usage: bktx \[options\] \[command\]/)
  })

  it('runs keygen, server and token against that server, with and without the keyring binding', async () => {
    const keygen = await cli(['keygen'])
    expect(JSON.parse(keygen.stdout).keys).toHaveLength(1)
    await cli(['config', 'set', 'client-id', 'pack-client'])
    await cli(['config', 'set', 'org', 'acme'])
    await cli(['config', 'set', 'subject', 'dev@acme.test'])
    const server = spawn(bktx, ['server', '--port', '0'], { cwd: dir, env })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = ''
        server.stderr.on('data', (chunk) => {
          text += chunk
          const match = /listening on (\S+)/.exec(text)
          if (match?.[1] !== undefined) resolve(match[1])
        })
        server.once('exit', (code) => reject(new Error(`server exited ${code}: ${text}`)))
      })
      const settings = { BKTX_TOKEN_URL: `${url}/oauth/token`, BKTX_CACHE: 'file' }
      const first = await cli(['token'], settings)
      expect(first.stdout).toMatch(/^bktx_[0-9A-Za-z]{43}\n$/)
      expect((await cli(['token'], settings)).stdout).toBe(first.stdout)

      // Where the native keyring binding cannot load, auto mode still works, on the file cache.
      await rm(join(dir, 'prefix', 'lib', 'node_modules', 'bktx', 'node_modules', '@napi-rs'), { recursive: true, force: true })
      const withoutBinding = await cli(['token', '--json', '--scope', 'read_builds'], {
        BKTX_TOKEN_URL: settings.BKTX_TOKEN_URL,
        DBUS_SESSION_BUS_ADDRESS: process.env['DBUS_SESSION_BUS_ADDRESS'] ?? '',
      })
      expect(JSON.parse(withoutBinding.stdout)).toMatchObject({ cache: 'file' })
      expect(withoutBinding.stderr).toMatch(/^warning: no keychain .*: caching tokens in /)
    } finally {
      // Waited for: a server ending cleanly writes its V8 code cache under this home as it exits,
      // which raced the removal of the directory in afterAll (ENOTEMPTY).
      const exited = server.exitCode !== null || server.signalCode !== null ? Promise.resolve() : once(server, 'exit')
      server.kill('SIGTERM')
      await exited
    }
  }, 60_000)
})
