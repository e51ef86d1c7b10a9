// Signatures as signers hand them back, normalised to what JWS carries (RFC 7518 §3.3, §3.4),
// and checked against the key's public half.
import { verify } from 'node:crypto'
import type { AssertionKey } from './signer.js'

/**
 * The raw r‖s (32 bytes each) of a DER ECDSA-Sig-Value (RFC 3279 §2.2.3: SEQUENCE of two
 * INTEGERs), as OpenSSL, AWS KMS and Google Cloud KMS return ES256 signatures; undefined when
 * `der` is not exactly that for P-256.
 */
export function derToRaw(der: Uint8Array): Uint8Array | undefined {
  const bytes = Buffer.from(der)
  if (bytes.length < 8 || bytes[0] !== 0x30) return undefined
  let offset = 2
  let length = bytes[1] as number
  if (length === 0x81) {
    length = bytes[2] as number
    offset = 3
  } else if (length > 0x7f) {
    return undefined
  }
  if (offset + length !== bytes.length) return undefined
  const out = Buffer.alloc(64)
  for (const half of [0, 1]) {
    if (bytes[offset] !== 0x02) return undefined
    const size = bytes[offset + 1] as number
    if (size < 1 || size > 33) return undefined
    let value = bytes.subarray(offset + 2, offset + 2 + size)
    if (value.length !== size) return undefined
    // DER integers are minimal and positive: a leading zero only before a high bit.
    if (size > 1 && value[0] === 0 && ((value[1] as number) & 0x80) === 0) return undefined
    if (((value[0] as number) & 0x80) !== 0) return undefined
    if (value.length === 33) {
      if (value[0] !== 0) return undefined
      value = value.subarray(1)
    }
    value.copy(out, half * 32 + (32 - value.length))
    offset += 2 + size
  }
  return offset === bytes.length ? out : undefined
}

const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/

/**
 * The readings of a signer's stdout that could be a signature of the expected length: the raw
 * bytes, or their base64/base64url text (whitespace ignored), each as is or, for
 * ES256, converted from DER. Ordered by likelihood; the caller keeps the first that verifies.
 */
export function signatureCandidates(output: Uint8Array, alg: 'ES256' | 'RS256', rsaBytes: number): Uint8Array[] {
  const readings: Uint8Array[] = [Buffer.from(output)]
  // Line-wrapped base64 (`base64` wraps at 76 columns) is still base64.
  const text = Buffer.from(output).toString('latin1').replace(/\s+/g, '')
  if (text.length > 0 && BASE64.test(text)) readings.push(Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64'))
  const out: Uint8Array[] = []
  for (const bytes of readings) {
    if (alg === 'ES256') {
      if (bytes.length === 64) out.push(bytes)
      const raw = derToRaw(bytes)
      if (raw !== undefined) out.push(raw)
    } else if (bytes.length === rsaBytes) {
      out.push(bytes)
    }
  }
  return out
}

/** True when `signature` is a valid JWS signature of `data` (RFC 7518 §3.3, §3.4) under the key's public half. */
export function verifiesWith(key: Pick<AssertionKey, 'alg' | 'publicKey'>, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (key.alg === 'ES256') return signature.length === 64 && verify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, signature)
    return verify('sha256', data, key.publicKey, signature)
  } catch {
    return false
  }
}
