import { Chalk, chalkStderr, type ChalkInstance } from 'chalk'
import type { Env, OutStream } from '../deps.js'
import { colorLevel } from '../term/color.js'
import { escapeControls, terminalSafeJSON } from '../term/sanitize.js'

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

  /** One JSON document on stdout: exact JSON, with C1 and bidi characters as `\u` escapes (src/term/sanitize.ts). */
  document(value: unknown): void {
    this.#stdout.write(`${terminalSafeJSON(JSON.stringify(value, null, 2))}\n`)
  }

  // Messages may quote a server, a file or a JWT: their control characters are escaped here, as
  // a last line behind the escaping of each field, before bktx adds colour of its own.
  info(message: string): void {
    this.#stderr.write(`${escapeControls(message, { multiline: true })}\n`)
  }

  success(message: string): void {
    this.#stderr.write(`${this.style.green('✓')} ${escapeControls(message, { multiline: true })}\n`)
  }

  warn(message: string): void {
    this.#stderr.write(`${this.style.yellow('warning:')} ${escapeControls(message, { multiline: true })}\n`)
  }

  error(message: string): void {
    this.#stderr.write(`${this.style.red('error:')} ${escapeControls(message, { multiline: true })}\n`)
  }

  debug(message: string): void {
    if (this.verbose) this.#stderr.write(`${this.style.dim(`debug: ${escapeControls(message, { multiline: true })}`)}\n`)
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
