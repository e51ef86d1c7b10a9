import type { SecretStore } from './secrets/store.js'
import type { Clock } from './time/clock.js'
import type { Env } from './env.js'

/** A writable text stream: stdout or stderr. */
export interface OutStream {
  write(chunk: string): void
  /** True when the stream is a terminal; decides spinners, colour and human formatting. */
  readonly isTTY: boolean
}

/** Something that delivers process signals; the real one wraps `process.on`. */
export interface Signals {
  /** Calls `listener` on each delivery of `signal`; returns a function that unsubscribes. */
  on(signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP', listener: () => void): () => void
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
  signals: Signals
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
}
