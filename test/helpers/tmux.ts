import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isCI } from '../../src/cache/select.js'

// Real terminals for tests: tmux on a private server (-L), so that nothing of the user's tmux
// (sessions, configuration) is touched. .ci/run installs tmux; a machine without it skips
// these tests, but CI fails them.

export const HAVE_TMUX = spawnSync('tmux', ['-V']).status === 0
export const HAVE_SCRIPT = spawnSync('script', ['--version']).status === 0

/** describe.skipIf(...) for tests that need `tool`: skipped without it, failed without it in CI. */
export function missingTool(present: boolean): boolean {
  return !present && !isCI(process.env)
}

export const FIXTURE = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

export interface Terminal {
  /** Types keys: `C-c`, `C-\\`, or text (with `Enter` as a separate key). */
  keys(...keys: string[]): void
  /** The visible screen as text. */
  screen(): string
  /** Whether the terminal shows its cursor (ora hides it while spinning). */
  cursorVisible(): boolean
  kill(): void
}

/**
 * Runs `command` (through /bin/sh, which execs it: a shell left as the session leader would
 * die of Ctrl-C itself and hang up the terminal) as the only process of a new tmux session of
 * the given size, with exactly `env` (plus PATH), on a private tmux server.
 */
export function terminal(
  command: string,
  env: Record<string, string | undefined>,
  size: { width: number; height: number } = { width: 100, height: 30 },
): Terminal {
  const socket = `bktx-test-${process.pid}-${randomBytes(4).toString('hex')}`
  const tmux = (...args: string[]) => {
    const run = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], {
      env: { PATH: process.env['PATH'], TERM: 'xterm-256color', SHELL: '/bin/sh', ...env },
      encoding: 'utf8',
    })
    if (run.status !== 0 && args[0] !== 'kill-server') throw new Error(`tmux ${args.join(' ')}: ${run.stderr}`)
    return run.stdout
  }
  tmux('new-session', '-d', '-s', 'main', '-x', String(size.width), '-y', String(size.height), `exec ${command}`)
  return {
    keys: (...keys) => void tmux('send-keys', '-t', 'main', ...keys),
    screen: () => tmux('capture-pane', '-p', '-t', 'main'),
    cursorVisible: () => tmux('display-message', '-p', '-t', 'main', '#{cursor_flag}').trim() === '1',
    kill: () => void tmux('kill-server'),
  }
}

/** Polls `check` every 20 ms until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The JSON that test/fixtures/status-of.mjs wrote, once it has. */
export interface Status {
  code: number | null
  signal: NodeJS.Signals | null
  pid: number
  interruptedToExitMs: number | null
  sttyBefore: string
  sttyAfter: string
}

export function statusFile(path: string): () => Status | undefined {
  return () => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Status) : undefined)
}

/** Whether process `pid` has a TCP socket listening on `port` (Linux: /proc/net/tcp{,6} and /proc/PID/fd). */
export function listensOn(pid: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // local_address is ADDR:PORT; state 0A is LISTEN; field 9 is the socket inode.
      if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A' && f[9] !== undefined) inodes.add(f[9])
    }
  }
  if (inodes.size === 0) return false
  return readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '')
    } catch {
      return false
    }
  })
}
