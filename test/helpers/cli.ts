import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../src/main.js'
import { systemProcessInfo } from '../../src/term/process-info.js'
import type { ProgramDeps } from '../../src/cli/program.js'
import type { FetchLike, OutStream, ProcessInfo, SignalName, Signals } from '../../src/deps.js'
import { MemorySecretStore, type SecretStore } from '../../src/secrets/store.js'
import type { Clock } from '../../src/time/clock.js'
import { CODE_CACHE } from './code-cache.js'

export interface CliResult {
  code: number
  /** The signal the process would end by (src/bin.ts re-raises it). */
  signal?: NodeJS.Signals | undefined
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  clock?: Clock
  cwd?: string
  stdin?: string
  signals?: Signals
  processInfo?: ProcessInfo
  fetch?: FetchLike
  secrets?: SecretStore
  home?: string
  stdoutIsTTY?: boolean
  /** Called with stderr text as it is written (to wait for "listening" lines). */
  onStderr?: (chunk: string) => void
  /** What the fast path resolved before a miss (src/bin.ts passes it). */
  handover?: ProgramDeps['handover']
  /** Another binding package in place of pkcs11js (a missing one: a build without it). */
  pkcs11Binding?: string
  /** The waits between retries: real timers unless given ({@link noWait} skips them). */
  sleep?: ProgramDeps['sleep']
  /** What bounds V8's young generation (`bktx server`); the real one changes the test process's flags, so tests give their own or none. */
  boundYoungGeneration?: ProgramDeps['boundYoungGeneration']
  /** Streams of the test's own instead of the captured strings (write failures). */
  stdoutStream?: OutStream
  stderrStream?: OutStream
}

/** A retry backoff that returns at once (still refusing once the call is aborted): the attempts without the waits. */
export const noWait: NonNullable<ProgramDeps['sleep']> = (_ms, signal) => (signal.aborted ? Promise.reject(signal.reason) : Promise.resolve())

/** Runs the whole CLI in-process with captured streams and injected dependencies. */
export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const deps: ProgramDeps = {
    stdout: options.stdoutStream ?? { write: (chunk) => void (stdout += chunk), isTTY: options.stdoutIsTTY ?? false },
    stderr: options.stderrStream ?? {
      write: (chunk) => {
        stderr += chunk
        options.onStderr?.(chunk)
      },
      isTTY: false,
    },
    stdinIsTTY: options.stdin === undefined,
    readStdin: async () => options.stdin ?? '',
    env: options.env ?? {},
    clock: options.clock ?? { now: () => new Date() },
    signals: options.signals ?? { on: () => () => undefined },
    // The test process stands in for bktx's own (the server's state lock records a pid).
    processInfo: options.processInfo ?? { ...systemProcessInfo(), parentName: () => undefined, inForeground: () => undefined },
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    secrets: options.secrets ?? new MemorySecretStore(),
    platform: process.platform,
    cwd: options.cwd ?? process.cwd(),
    uid: process.getuid?.(),
    home: options.home ?? '/nonexistent-home',
    version: '0.0.0-test',
    ...(options.handover === undefined ? {} : { handover: options.handover }),
    ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
    ...(options.pkcs11Binding === undefined ? {} : { pkcs11Binding: options.pkcs11Binding }),
    ...(options.boundYoungGeneration === undefined ? {} : { boundYoungGeneration: options.boundYoungGeneration }),
  }
  const { code, signal } = await main(args, deps)
  return { code, signal, stdout, stderr }
}

/** A settable clock for tests. */
export function fixedClock(start: Date | string | number = '2026-11-28T12:00:00Z'): Clock & { advance(seconds: number): void; set(date: Date | string): void } {
  let now = new Date(start).getTime()
  return {
    now: () => new Date(now),
    advance: (seconds) => void (now += seconds * 1000),
    set: (date) => void (now = new Date(date).getTime()),
  }
}

/** A fake signal source: `emit('SIGINT')` delivers to the CLI's listeners. */
export function fakeSignals(): Signals & { emit(signal: SignalName): void } {
  const listeners = new Map<string, Set<() => void>>()
  return {
    on(signal, listener) {
      const set = listeners.get(signal) ?? new Set()
      set.add(listener)
      listeners.set(signal, set)
      return () => set.delete(listener)
    },
    emit(signal) {
      for (const listener of [...(listeners.get(signal) ?? [])]) listener()
    },
  }
}

/** A temporary home with XDG dirs; `env` points bktx at it (and a bktx it starts at the run's code cache). */
export async function tempHome(): Promise<{ dir: string; env: Record<string, string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'bktx-test-'))
  // A private runtime directory, as a login session has: the file cache lives in it.
  await mkdir(join(dir, 'run'), { mode: 0o700 })
  return {
    dir,
    env: {
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_CACHE_HOME: join(dir, 'cache'),
      XDG_RUNTIME_DIR: join(dir, 'run'),
      ...CODE_CACHE,
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

/**
 * Deps for building the program without running anything (commands parsed, help printed): no
 * requests, no home, an empty environment. Output goes to `out.text` when given.
 */
export function parseOnlyDeps(out?: { text: string }): ProgramDeps {
  const write = (chunk: string): void => {
    if (out !== undefined) out.text += chunk
  }
  return {
    stdout: { write, isTTY: false },
    stderr: { write, isTTY: false },
    stdinIsTTY: true,
    readStdin: async () => '',
    env: {},
    clock: { now: () => new Date() },
    signals: { on: () => () => undefined },
    fetch: async () => {
      throw new Error('no requests while parsing')
    },
    secrets: new MemorySecretStore(),
    platform: process.platform,
    cwd: '/',
    uid: 0,
    home: '/nonexistent',
    version: '0',
  }
}
