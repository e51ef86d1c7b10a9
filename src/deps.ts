import type { SecretStore } from './secrets/store.js'
import type { Clock } from './time/clock.js'
import type { Env } from './env.js'

/** A writable text stream: stdout or stderr. */
export interface OutStream {
  write(chunk: string): void
  /** True when the stream is a terminal; decides spinners, colour and human formatting. */
  readonly isTTY: boolean
  /**
   * The first error writing to the stream (ENOSPC, EPIPE, EBADF), once one happened; later
   * writes are dropped. Streams that cannot fail (a test's string) leave it out.
   */
  readonly failure?: NodeJS.ErrnoException | undefined
  /** Resolves once everything written so far has reached the OS, or failed to. */
  flush?(): Promise<void>
}

/** The signals bktx listens to. */
export type SignalName = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGQUIT' | 'SIGUSR1' | 'SIGUSR2'

/** Something that delivers process signals; the real one wraps `process.on`. */
export interface Signals {
  /** Calls `listener` on each delivery of `signal`; returns a function that unsubscribes. */
  on(signal: SignalName, listener: () => void): () => void
}

/** What the operating system tells about this process; every answer is undefined where it does not. */
export interface ProcessInfo {
  /** The command name of the parent process (`bash`, `fish`): on Linux /proc/PPID/comm. */
  parentName(): string | undefined
  /**
   * Whether this process's group is the foreground process group of its controlling terminal
   * (so a Ctrl-C typed there signals it and every process of the group); false without one.
   */
  inForeground(): boolean | undefined
  /** This process's id (the reference server's state directory lock records it). */
  readonly pid: number
  /** Whether a process with this id exists (kill(pid, 0)): a lock whose holder is gone is stale. */
  isAlive(pid: number): boolean
}

export type { Env } from './env.js'

/** The request options bktx passes to a fetch: a subset of RequestInit. */
export interface RequestInitLike {
  method?: string
  headers?: Record<string, string>
  body?: string
  signal?: AbortSignal
  redirect?: 'manual' | 'follow' | 'error'
}

/** A readable body as fetch's Response has it: bktx reads it chunk by chunk, with a cap. */
export interface BodyLike {
  getReader(): {
    read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>
    cancel(reason?: unknown): Promise<void>
  }
  cancel(reason?: unknown): Promise<void>
}

/**
 * The parts of a fetch Response bktx reads. A global Response satisfies it, and so does the
 * node:http one of src/http/node-fetch.ts, which spares the CLI loading Node's fetch.
 */
export interface ResponseLike {
  readonly status: number
  readonly headers: { get(name: string): string | null }
  readonly body: BodyLike | null
}

/** Outbound HTTP: Node's global fetch, or src/http/node-fetch.ts. */
export type FetchLike = (input: string | URL, init?: RequestInitLike) => Promise<ResponseLike>

/**
 * Everything bktx takes from the outside world, built once by src/bin.ts. Core modules receive
 * only the parts they need; nothing below the entry point touches `process` or the clock.
 */
export interface Deps {
  stdout: OutStream
  stderr: OutStream
  /**
   * Reads all of stdin (for `-` arguments), at most `maxBytes` bytes: throws the InputFileError
   * of src/fs/input.ts when stdin is a device or a directory, or holds more.
   */
  readStdin(maxBytes: number): Promise<string>
  readonly stdinIsTTY: boolean
  /** A copy of the environment, taken once. */
  env: Env
  clock: Clock
  /** The waits between retries (src/http/retry.ts's Sleep): timers unless given; tests give one that returns at once. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  signals: Signals
  /** The OS's answers about this process (src/bin.ts); tests leave it out or pass their own. */
  processInfo?: ProcessInfo
  /**
   * Keeps each semi-space of this process's V8 new space at `maxBytes` at most from now on
   * (src/term/young-generation.ts, for `bktx server`) and returns what undoes it. Only the real
   * process has one: V8's flags belong to the whole process, and tests run in-process.
   */
  boundYoungGeneration?: (maxBytes: number) => Promise<() => void>
  /** Outbound HTTP. Production: global fetch (with an undici dispatcher when configured). */
  fetch: FetchLike
  /**
   * The OS keychain (service `bktx`). Production: the @napi-rs/keyring store, which loads
   * nothing until first asked; tests: a MemorySecretStore or the real Secret Service.
   */
  secrets: SecretStore
  /** `process.platform`. */
  platform: string
  /** Working directory, for resolving relative paths in flags. */
  cwd: string
  /** Current user's uid and home directory (for default paths and file-ownership checks). */
  uid: number | undefined
  home: string
  /** Runs the version string shown by --version. */
  version: string
  /** For tests of status and doctor: another binding package in place of pkcs11js (a missing one: a build without it). */
  pkcs11Binding?: string | undefined
}
