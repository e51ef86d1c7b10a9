// The text of an `env:NAME` key as CI secret stores hand it out, made into what ./load.ts and
// ./signer.ts read (a PEM block or JWK JSON). Stores that keep one-line values get the PEM with
// its newlines written as `\n`; others want base64 (Kubernetes secrets, some CI UIs), of the
// PEM or of the DER key itself. Only variables come here: a key file is read as it is, with
// its permission checks (./load.ts). No jose here: the cache-hit path reads env: keys too.
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { KeyError } from '../errors.js'

/** The shapes an `env:` key may take, for messages. */
export const ENV_KEY_SHAPES =
  'a PEM block (with newlines, or on one line with literal \\n), base64 of a PEM or of a DER private key (PKCS#8, SEC1 or PKCS#1), or a private JWK (JSON)'

// Base64 or base64url, possibly wrapped over lines (RFC 4648 §4 and §5; MIME-style wrapping).
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/
// DER encodings of a private key, in the order a store most likely holds them: PKCS#8 (RFC
// 5208, what `bktx keygen` and `openssl genpkey` write), SEC1 (RFC 5915, EC), PKCS#1 (RFC 8017, RSA).
const DER_TYPES = ['pkcs8', 'sec1', 'pkcs1'] as const

/**
 * The key text of a variable as ./load.ts reads it: PEM (a one-line PEM with literal `\n` gets
 * its newlines back), JWK or JWKS JSON as given, base64 decoded (a PEM inside, or a DER private
 * key, returned as PKCS#8 PEM). Text in none of these shapes is a KeyError that names the
 * shapes; the value itself is never quoted. `source` (`env:NAME`) names it in messages.
 */
export function envKeyShape(text: string, source: string): string {
  const trimmed = text.trim()
  // JSON: a JWK or JWKS, read (and its problems worded) by ./load.ts.
  if (trimmed.startsWith('{')) return trimmed
  if (trimmed.includes('-----BEGIN')) return unescapeNewlines(trimmed)
  const compact = trimmed.replace(/\s+/g, '')
  if (compact.length > 0 && BASE64.test(compact)) {
    const bytes = Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64')
    const decoded = bytes.toString('utf8').trim()
    if (decoded.includes('-----BEGIN')) return unescapeNewlines(decoded)
    const key = derPrivateKey(bytes)
    if (key !== undefined) return key.export({ format: 'pem', type: 'pkcs8' }) as string
  }
  throw new KeyError(`${source} holds no key bktx can read: expected ${ENV_KEY_SHAPES}`, {
    detail: { setting: 'key', reason: 'unknown-key-shape' },
  })
}

/** A PEM whose line breaks were written as the two characters `\` `n` (or `\r\n`), with them restored. */
function unescapeNewlines(pem: string): string {
  // Base64 and PEM boundaries hold no backslash, so every `\n` here stands for a line break.
  return pem.replace(/\\r\\n|\\n/g, '\n')
}

/** The private key of DER bytes in any of {@link DER_TYPES}, or undefined. */
function derPrivateKey(bytes: Buffer): KeyObject | undefined {
  for (const type of DER_TYPES) {
    try {
      return createPrivateKey({ key: bytes, format: 'der', type })
    } catch {
      // Not this encoding: try the next.
    }
  }
  return undefined
}
