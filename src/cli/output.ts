import { Chalk, chalkStderr, type ChalkInstance } from 'chalk'
import type { Env, OutStream } from '../deps.js'
import { colorLevel } from '../term/color.js'
import { escapeControls, terminalSafeJSON } from '../text/sanitize.js'

export interface OutputOptions {
  json: boolean
  verbose: boolean
  /** False with --no-color. NO_COLOR and FORCE_COLOR in the environment are honoured too. */
  color: boolean
  /** --quiet or BKTX_QUIET: no notes, successes or warnings; errors (and --verbose lines) stay. */
  quiet?: boolean
  env: Env
  /** The real stderr stream, for ora; only present when stderr is a terminal. */
  spinnerStream?: SpinnerStream | undefined
}

/** The stderr terminal as ora uses it: written to, measured, and watched for resizes. */
export type SpinnerStream = NodeJS.WritableStream & {
  readonly columns?: number
  on(event: 'resize', listener: () => void): unknown
  off(event: 'resize', listener: () => void): unknown
}

/**
 * A spinner rewrites its line, and ora computes how many rows to clear from the width: with 0
 * columns (a pseudo-terminal nobody sized, as CI systems and `script` from a non-terminal
 * make) it clears forever at full CPU, and on a very narrow one its line wraps into a flood.
 * Below this width there is no spinner at all, only plain lines.
 */
export const MIN_SPINNER_COLUMNS = 20

/** True when a terminal this wide can show a spinner (docs/dependencies.md, ora). */
export function saneWidth(columns: number | undefined): boolean {
  return typeof columns === 'number' && Number.isFinite(columns) && columns >= MIN_SPINNER_COLUMNS
}

/**
 * The only way commands write. Data (tokens, JWKS, JWTs, export lines, --json documents) goes to
 * stdout; everything meant for a person goes to stderr, coloured only when stderr is a terminal.
 */
export class Output {
  readonly json: boolean
  readonly verbose: boolean
  readonly quiet: boolean
  readonly style: ChalkInstance
  readonly #stdout: OutStream
  readonly #stderr: OutStream
  readonly #spinnerStream: SpinnerStream | undefined

  constructor(stdout: OutStream, stderr: OutStream, options: OutputOptions) {
    this.#stdout = stdout
    this.#stderr = stderr
    this.json = options.json
    this.verbose = options.verbose
    this.quiet = options.quiet === true
    this.style = new Chalk({
      level: colorLevel({ flag: options.color, env: options.env, isTTY: stderr.isTTY, terminalLevel: () => (chalkStderr.level === 0 ? 1 : chalkStderr.level) }),
    })
    this.#spinnerStream = stderr.isTTY && !options.json && !this.quiet ? options.spinnerStream : undefined
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

  /** One JSON document on stdout: exact JSON, with C1 and bidi characters as `\u` escapes (src/text/sanitize.ts). */
  document(value: unknown): void {
    this.#stdout.write(`${terminalSafeJSON(JSON.stringify(value, null, 2))}\n`)
  }

  // Messages may quote a server, a file or a JWT: their control characters are escaped here, as
  // a last line behind the escaping of each field, before bktx adds colour of its own.

  /** A note for the person at the terminal (dropped by --quiet). */
  info(message: string): void {
    if (!this.quiet) this.#stderr.write(`${escapeControls(message, { multiline: true })}\n`)
  }

  /**
   * A line that is the command's own product on stderr, kept by --quiet: a server's request
   * log, the usage line that goes with an error.
   */
  log(message: string): void {
    this.#stderr.write(`${escapeControls(message, { multiline: true })}\n`)
  }

  success(message: string): void {
    if (!this.quiet) this.#stderr.write(`${this.style.green('✓')} ${escapeControls(message, { multiline: true })}\n`)
  }

  warn(message: string): void {
    if (!this.quiet) this.#stderr.write(`${this.style.yellow('warning:')} ${escapeControls(message, { multiline: true })}\n`)
  }

  error(message: string): void {
    this.#stderr.write(`${this.style.red('error:')} ${escapeControls(message, { multiline: true })}\n`)
  }

  /** A failure under --json: `{"error": {...}}` on stderr, one line. */
  errorDocument(error: { code: string; message: string; exit: number; detail?: unknown }): void {
    this.#stderr.write(`${JSON.stringify({ error })}\n`)
  }

  debug(message: string): void {
    if (this.verbose) this.#stderr.write(`${this.style.dim(`debug: ${escapeControls(message, { multiline: true })}`)}\n`)
  }

  /**
   * Runs `task` under an ora spinner when stderr is a terminal of sane width (and not --json or
   * --quiet); else plainly. The spinner never reads the terminal: ora's default discardStdin
   * puts the terminal in raw mode, where Ctrl-C is a byte instead of SIGINT
   * (docs/dependencies.md). A resize below the sane width stops it for good.
   */
  async spin<T>(text: string, task: () => Promise<T>): Promise<T> {
    const stream = this.#spinnerStream
    if (stream === undefined || !saneWidth(stream.columns)) return task()
    // ora costs ~70 ms to import (docs/dependencies.md): load it only when a spinner will show.
    const { default: ora } = await import('ora')
    const spinner = ora({ text, stream, color: 'cyan', discardStdin: false }).start()
    const stop = () => {
      if (spinner.isSpinning) spinner.stop()
    }
    const onResize = () => {
      if (!saneWidth(stream.columns)) stop()
    }
    stream.on('resize', onResize)
    try {
      return await task()
    } finally {
      stream.off('resize', onResize)
      stop()
    }
  }
}
