// Text that came from outside (a server's answer or headers, a JWT's claims, a file) is shown
// to a person through this module, so that it cannot drive the terminal: ESC and CSI start
// sequences that clear the screen, set the window title or write the clipboard (OSC 52), and a
// newline or carriage return forges a line of bktx's own ("✓ signature verified"). Imports
// nothing: core modules use it too (src/http/body.ts), so messages a library caller prints
// are safe as well.

// C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F): every terminal control function.
// U+2028/U+2029 end a line in some renderers; the bidi embeddings, overrides and isolates
// (U+200E/F, U+202A-E, U+2066-9) reorder what follows them ("Trojan Source", CVE-2021-42574).
const SINGLE_LINE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const MULTI_LINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function escapeOne(char: string): string {
  const named = NAMED[char]
  if (named !== undefined) return named
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/**
 * `text` with every control character written as an escape (`\x1b`, `\x9b`, `\n`, `\u202e`).
 * A single-line field (a name, a claim, an error message) escapes newlines too; `multiline`
 * keeps `\n` for blocks that bktx itself lays out in lines. Printable text, Unicode included,
 * is left alone, and the result never holds a control character, so escaping is idempotent.
 */
export function escapeControls(text: string, options: { multiline?: boolean } = {}): string {
  return text.replace(options.multiline === true ? MULTI_LINE : SINGLE_LINE, escapeOne)
}

/** An escaped excerpt of outside text for a one-line message, cut at `max` characters. */
export function excerpt(text: string, max: number): string {
  const clean = escapeControls(text)
  return clean.length > max ? `${clean.slice(0, max)}…` : clean
}

/**
 * A JSON document with C1, DEL and the line and bidi separators written as `\uXXXX` escapes.
 * JSON.stringify escapes only C0; these characters can occur only inside strings, so the
 * result parses to exactly the same value (`--json` stays exact) and is safe on a terminal.
 */
export function terminalSafeJSON(json: string): string {
  return json.replace(/[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
