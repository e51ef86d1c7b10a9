// The entry of dist/fast-static.cjs: `bktx --version` and `bktx help` answered from constants,
// before anything else is loaded (bin/bktx.js requires it first for exactly these arguments).
// The version is the one the full CLI prints; the help text is the full CLI's own output,
// captured when the bundle is built (scripts/build.mjs runs `bktx help` from dist/bin.js), so
// it cannot go stale; test/e2e/fast-static.test.ts compares the two. Anything else, and any
// case the constant might not match (a terminal, whose width commander wraps the help to;
// forced colours), returns false and the full CLI runs. An entry point: it touches `process`.
import { fstatSync } from 'node:fs'
import { EXIT } from '../exit-codes.js'
import { colorLevel } from '../term/color.js'
import { describeWriteError, writeAllSync, writeFdSync } from '../term/process.js'

declare const BKTX_VERSION: string
declare const BKTX_HELP: string

/** What `bktx ARGV` prints on stdout when it is a constant, else undefined. */
export function staticAnswer(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (argv.length !== 1) return undefined
  const [arg] = argv
  if (arg === '--version' || arg === '-V') return `${BKTX_VERSION}\n`
  // Commander wraps help to a terminal's width and may style it when colours are forced.
  if (arg !== 'help' && arg !== '--help' && arg !== '-h') return undefined
  if (env['FORCE_COLOR'] !== undefined || env['CLICOLOR_FORCE'] !== undefined) return undefined
  return BKTX_HELP
}

/**
 * Prints the constant answer of `argv` and returns true, or returns false for the full CLI.
 * stdout must not be a terminal for help (a character device is taken as one: /dev/null then
 * goes to the full CLI too). A write that fails before any byte is written leaves the run to
 * the full CLI, which fails the same way and reports it as every command does (exit 9).
 */
export function serveStatic(argv: readonly string[]): boolean {
  const text = staticAnswer(argv, process.env)
  if (text === undefined) return false
  if (text === BKTX_HELP) {
    try {
      if (fstatSync(1).isCharacterDevice()) return false
    } catch {
      return false
    }
  }
  const { failure, written } = writeAllSync(1, text)
  if (failure !== undefined && written === 0) return false
  process.exitCode = EXIT.OK
  if (failure !== undefined) {
    // Part of it went out: as the full CLI ends such a run (src/main.ts), exit 9 and one line.
    process.exitCode = EXIT.OUTPUT
    if (failure.code !== 'EPIPE') {
      const colour = colorLevel({ flag: true, env: process.env, isTTY: process.stderr.isTTY === true, terminalLevel: () => 1 }) !== 0
      writeFdSync(2, `${colour ? '\u001b[31merror:\u001b[39m' : 'error:'} cannot write to stdout: ${describeWriteError(failure)}\n`)
    }
  }
  return true
}
