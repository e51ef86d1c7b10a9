// The CLI's view of the exit codes (the table itself is src/exit-codes.ts, shared with the
// entry points and the fast path): the text of `bktx help exit-codes`, generated from it.
import { EXIT, EXIT_MEANINGS, errorCodesOf, type ExitCode } from '../exit-codes.js'

export { EXIT, exitCodeFor, exitCodeTable, signalOutcome, type ExitCode, type Outcome } from '../exit-codes.js'

/** The width the help page wraps at. */
const WIDTH = 88
/** Where an entry's text starts: two spaces, the code, padding. */
const INDENT = 7

/** Words of `text` in lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(line)
  return lines
}

function entry(exit: ExitCode): string {
  const codes = errorCodesOf(exit)
  // The meaning, then the error codes that give it on lines of their own.
  const lines = [...wrap(EXIT_MEANINGS[exit].help, WIDTH - INDENT), ...(codes.length === 0 ? [] : wrap(`(${codes.join(', ')})`, WIDTH - INDENT))]
  return lines
    .map((line, i) => (i === 0 ? `  ${String(exit).padEnd(INDENT - 2)}${line}` : `${' '.repeat(INDENT)}${line}`))
    .join('\n')
}

/** The text of `bktx help exit-codes` (the README prints it too), from the table. */
export const EXIT_CODES_HELP = `Exit codes

${(Object.values(EXIT) as ExitCode[])
  .sort((a, b) => a - b)
  .map(entry)
  .join('\n')}

bktx exec exits with the command's own exit code once the command has started; when
the command dies of signal N, bktx dies of the same signal (status 128 + N; for signals
that dump core, such as SIGQUIT, it exits 128 + N instead).
Nothing is written to stdout when bktx fails.
`
