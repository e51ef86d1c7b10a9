import { Chalk, chalkStderr, type ChalkInstance } from 'chalk'
import type { Env, OutStream } from '../deps.js'
import { colorLevel } from '../term/color.js'

export interface OutputOptions {
  json: boolean
  verbose: boolean
  /** False with --no-color. NO_COLOR and FORCE_COLOR in the environment are honoured too. */
  color: boolean
  env: Env
  /** The real stderr stream, for ora; only present when stderr is a terminal. */
  spinnerStream?: NodeJS.WritableStream | undefined
}

/**
 * The only way commands write. Data (tokens, JWKS, JWTs, export lines, --json documents) goes to
 * stdout; everything meant for a person goes to stderr, coloured only when stderr is a terminal.
 */
export class Output {
  readonly json: boolean
  readonly verbose: boolean
  readonly style: ChalkInstance
  readonly #stdout: OutStream
  readonly #stderr: OutStream
  readonly #spinnerStream: NodeJS.WritableStream | undefined

  constructor(stdout: OutStream, stderr: OutStream, options: OutputOptions) {
    this.#stdout = stdout
    this.#stderr = stderr
    this.json = options.json
    this.verbose = options.verbose
    this.style = new Chalk({
      level: colorLevel({ flag: options.color, env: options.env, isTTY: stderr.isTTY, terminalLevel: () => (chalkStderr.level === 0 ? 1 : chalkStderr.level) }),
    })
    this.#spinnerStream = stderr.isTTY && !options.json ? options.spinnerStream : undefined
  }

  get stdoutIsTTY(): boolean {
    return this.#stdout.isTTY
  }

  get stderrIsTTY(): boolean {
    return this.#stderr.isTTY
  }

  /** A line (or block) of data on stdout; a trailing newline is added when missing. */
  data(text: string): void {
    this.#stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  /** One JSON document on stdout. */
  document(value: unknown): void {
    this.#stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  info(message: string): void {
    this.#stderr.write(`${message}\n`)
  }

  success(message: string): void {
    this.#stderr.write(`${this.style.green('✓')} ${message}\n`)
  }

  warn(message: string): void {
    this.#stderr.write(`${this.style.yellow('warning:')} ${message}\n`)
  }

  error(message: string): void {
    this.#stderr.write(`${this.style.red('error:')} ${message}\n`)
  }

  /** A failure under --json: `{"error": {...}}` on stderr, one line. */
  errorDocument(error: { code: string; message: string; exit: number; detail?: unknown }): void {
    this.#stderr.write(`${JSON.stringify({ error })}\n`)
  }

  debug(message: string): void {
    if (this.verbose) this.#stderr.write(`${this.style.dim(`debug: ${message}`)}\n`)
  }

  /** Runs `task` under an ora spinner when stderr is a terminal (and not --json); else plainly. */
  async spin<T>(text: string, task: () => Promise<T>): Promise<T> {
    if (this.#spinnerStream === undefined) return task()
    // ora costs ~70 ms to import (docs/dependencies.md): load it only when a spinner will show.
    const { default: ora } = await import('ora')
    const spinner = ora({ text, stream: this.#spinnerStream, color: 'cyan' }).start()
    try {
      const result = await task()
      spinner.stop()
      return result
    } catch (error) {
      spinner.stop()
      throw error
    }
  }
}
