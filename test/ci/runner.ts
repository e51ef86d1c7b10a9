// What a GitHub Actions runner does around a JavaScript action step, for the tests of the
// bundle: inputs as INPUT_<NAME> variables (hyphens kept, which a shell cannot export, hence an
// env object), temporary GITHUB_OUTPUT / GITHUB_ENV / GITHUB_STATE files parsed with the
// runner's own rules, and each state entry as STATE_<name> in the post step.
// (actions/runner src/Runner.Worker/FileCommandManager.cs)
// runStep starts the committed bundle as the runner does; runStepInProcess calls the same
// step's source (action/src/) in this process, with the same environment and files, for the
// cases whose point is the step's logic rather than the process (each Node start of the bundle
// is some 0.2 CPU-seconds, and the suite is CPU-bound).
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../action/src/main.js'
import { post } from '../../action/src/post.js'

/**
 * A file command file as the runner reads it: empty lines skipped; `NAME<<DELIMITER` reads the
 * lines up to the first one equal to DELIMITER (missing: the runner fails the step, so we
 * throw); else `NAME=VALUE`. Every entry is kept in order.
 */
export function parseFileCommands(text: string): Array<[string, string]> {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const out: Array<[string, string]> = []
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '')
    if (line === '') continue
    const heredoc = line.indexOf('<<')
    const equals = line.indexOf('=')
    if (heredoc > 0 && (equals < 0 || heredoc < equals)) {
      const name = line.slice(0, heredoc)
      const delimiter = line.slice(heredoc + 2)
      if (delimiter === '') throw new Error(`invalid format: ${line}`)
      const value: string[] = []
      for (i++; ; i++) {
        if (i >= lines.length) throw new Error(`invalid value: matching delimiter not found '${delimiter}'`)
        const next = (lines[i] as string).replace(/\r$/, '')
        if (next === delimiter) break
        value.push(next)
      }
      out.push([name, value.join('\n')])
    } else if (equals > 0) {
      out.push([line.slice(0, equals), line.slice(equals + 1)])
    } else {
      throw new Error(`invalid format: ${line}`)
    }
  }
  return out
}

export interface StepResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Workflow commands (`::name::data`) in the order printed, data unescaped. */
  commands: Array<{ name: string; data: string }>
  outputs: Record<string, string>
  exported: Record<string, string>
  state: Record<string, string>
  raw: { output: string; env: string; state: string }
  /** The step's temporary directory: HOME, RUNNER_TEMP, cwd and the file command files. */
  work: string
}

const unescapeData = (data: string) => data.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%')

interface StepOptions {
  inputs?: Record<string, string>
  state?: Record<string, string>
  env?: Record<string, string>
  killAfterMs?: number
}

type FileCommandFiles = Record<'GITHUB_OUTPUT' | 'GITHUB_ENV' | 'GITHUB_STATE', string>

/** The step's environment over a fresh work directory: `inputs` become INPUT_<NAME>, `state` STATE_<name>. */
async function prepare(options: StepOptions): Promise<{ work: string; files: FileCommandFiles; env: Record<string, string> }> {
  const work = await mkdtemp(join(tmpdir(), 'bktx-runner-'))
  const files = { GITHUB_OUTPUT: join(work, 'output'), GITHUB_ENV: join(work, 'env'), GITHUB_STATE: join(work, 'state') }
  for (const path of Object.values(files)) await writeFile(path, '')
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: work,
    RUNNER_TEMP: work,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    ...files,
    ...options.env,
  }
  for (const [name, value] of Object.entries(options.inputs ?? {})) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  for (const [name, value] of Object.entries(options.state ?? {})) env[`STATE_${name}`] = value
  return { work, files, env }
}

async function result(
  work: string,
  files: FileCommandFiles,
  ended: { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string },
): Promise<StepResult> {
  const raw = {
    output: await readFile(files.GITHUB_OUTPUT, 'utf8'),
    env: await readFile(files.GITHUB_ENV, 'utf8'),
    state: await readFile(files.GITHUB_STATE, 'utf8'),
  }
  const commands = [...ended.stdout.matchAll(/^::([a-z-]+)(?: [^:]*)?::(.*)$/gm)].map((m) => ({ name: m[1] as string, data: unescapeData(m[2] as string) }))
  return {
    ...ended,
    commands,
    outputs: Object.fromEntries(parseFileCommands(raw.output)),
    exported: Object.fromEntries(parseFileCommands(raw.env)),
    state: Object.fromEntries(parseFileCommands(raw.state)),
    raw,
    work,
  }
}

/**
 * Runs `node <actionDir>/action/dist/<step>.cjs` as the runner does: `inputs` become
 * INPUT_<NAME>, `state` STATE_<name>, over a small base environment; cwd is a workspace.
 */
export async function runStep(actionDir: string, step: 'main' | 'post', options: StepOptions = {}): Promise<StepResult> {
  const { work, files, env } = await prepare(options)
  const child = spawn(process.execPath, [join(actionDir, 'action/dist', `${step}.cjs`)], { env, cwd: work })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  child.stdin.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 60_000)
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
  clearTimeout(timer)
  return result(work, files, { code, signal, stdout, stderr })
}

/**
 * The step's source (action/src/main.ts or post.ts) called in this process with the environment
 * and files runStep gives the bundle; its return value stands for the exit code. Nothing the
 * process alone shows (stderr, the post step's own time bound, exit status) is seen here.
 */
export async function runStepInProcess(step: 'main' | 'post', options: Omit<StepOptions, 'killAfterMs'> = {}): Promise<StepResult> {
  const { work, files, env } = await prepare(options)
  let stdout = ''
  const runner = { env, write: (line: string) => void (stdout += line) }
  const code = await (step === 'main' ? main(runner) : post(runner))
  return result(work, files, { code, signal: null, stdout, stderr: '' })
}
