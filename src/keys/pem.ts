// A PEM file cannot say which kid its key is published under, so `bktx keygen --kid K` writes
// it as explanatory text before the PEM block: RFC 7468 §5.2 allows data before the
// encapsulation boundary and requires parsers to ignore it (OpenSSL and Node do). Every loader
// reads it back, so `jwks`, `jwks serve` and `sign` agree on the kid wherever the file goes.
// No jose here: the cache-hit path reads it too.

/** The label bktx writes: `bktx-kid: K`. Other tools' explanatory text is never read as a kid. */
const KID_LINE = /^bktx-kid: ([^\s]+)$/

/** The kid label of a PEM file's text, if any, and the text from the first PEM boundary on. */
export function splitPemLabel(text: string): { kid: string | undefined; pem: string } {
  const start = text.indexOf('-----BEGIN ')
  if (start <= 0) return { kid: undefined, pem: start === 0 ? text : text }
  let kid: string | undefined
  for (const line of text.slice(0, start).split(/\r?\n/)) {
    const match = KID_LINE.exec(line.trim())
    if (match !== null) kid = match[1]
  }
  return { kid, pem: text.slice(start) }
}

/** `pem` with `kid` written before it, for `bktx keygen --kid`. */
export function withKidLabel(pem: string, kid: string): string {
  return `bktx-kid: ${kid}\n${pem}`
}

/** The kid setting's value that means "send no kid header" (Buildkite then tries every key). */
export const NO_KID = 'none'
