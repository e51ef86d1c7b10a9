// RFC 7512 PKCS#11 URIs: `pkcs11:token=bktx;object=ci;type=private?module-path=/usr/lib/...`.
// Pure parsing, no I/O: the settings table validates `key` values with it on every run.

/** The path attributes of RFC 7512 §2.3 that select a library, slot, token or object. */
export const PATH_ATTRIBUTES = [
  'library-manufacturer',
  'library-description',
  'library-version',
  'slot-manufacturer',
  'slot-description',
  'slot-id',
  'manufacturer',
  'model',
  'serial',
  'token',
  'object',
  'id',
  'type',
] as const
export type PathAttribute = (typeof PATH_ATTRIBUTES)[number]

const QUERY_ATTRIBUTES = ['module-path', 'module-name', 'pin-source', 'pin-value'] as const
type QueryAttribute = (typeof QUERY_ATTRIBUTES)[number]

/** RFC 7512 §2.3 `type`: the object classes a URI can name. */
export const OBJECT_TYPES = ['private', 'public', 'cert', 'secret-key', 'data'] as const
export type ObjectType = (typeof OBJECT_TYPES)[number]

export interface Pkcs11Uri {
  /** Text attributes (every path attribute but `id`), percent-decoded as UTF-8. */
  attributes: Partial<Record<Exclude<PathAttribute, 'id'>, string>>
  /** CKA_ID as bytes (RFC 7512 §2.3: `id` is percent-encoded octets). */
  id: Uint8Array | undefined
  modulePath: string | undefined
  pinSource: string | undefined
}

export class Pkcs11UriError extends Error {}

function fail(message: string): never {
  throw new Pkcs11UriError(message)
}

/** Percent-decodes to bytes (RFC 3986 §2.1); anything else malformed is an error. */
function decodeBytes(text: string, name: string): Uint8Array {
  const bytes: number[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (c === '%') {
      const hex = text.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail(`${name}: "%" must be followed by two hex digits`)
      bytes.push(parseInt(hex, 16))
      i += 2
    } else {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b)
    }
  }
  return Uint8Array.from(bytes)
}

function decodeText(text: string, name: string): string {
  const bytes = decodeBytes(text, name)
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    fail(`${name}: not valid UTF-8 after percent-decoding`)
  }
}

function isPathAttribute(name: string): name is PathAttribute {
  return (PATH_ATTRIBUTES as readonly string[]).includes(name)
}

function isQueryAttribute(name: string): name is QueryAttribute {
  return (QUERY_ATTRIBUTES as readonly string[]).includes(name)
}

/**
 * Parses a PKCS#11 URI. Strict where RFC 7512 leaves room: an attribute named twice, an
 * unknown or vendor (`x-`) attribute, or a malformed escape is an error rather than ignored,
 * since a URI that silently matches more than was meant could sign with the wrong key.
 * `pin-value` is refused: a PIN in a URI ends up on command lines and in shell history.
 */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!/^pkcs11:/i.test(text)) fail('must start with "pkcs11:"')
  const rest = text.slice('pkcs11:'.length)
  const q = rest.indexOf('?')
  const path = q === -1 ? rest : rest.slice(0, q)
  const query = q === -1 ? '' : rest.slice(q + 1)
  if (/[#\s]/.test(rest)) fail('must not contain spaces or a fragment ("#")')
  const out: Pkcs11Uri = { attributes: {}, id: undefined, modulePath: undefined, pinSource: undefined }
  const seen = new Set<string>()
  for (const part of path === '' ? [] : path.split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) fail(`"${part}" is not an attribute of the form name=value`)
    const name = part.slice(0, eq).toLowerCase()
    const value = part.slice(eq + 1)
    if (!isPathAttribute(name)) fail(`unknown path attribute "${name}" (known: ${PATH_ATTRIBUTES.join(', ')})`)
    if (seen.has(name)) fail(`attribute "${name}" is given twice`)
    seen.add(name)
    if (name === 'id') out.id = decodeBytes(value, name)
    else out.attributes[name] = decodeText(value, name)
  }
  for (const part of query === '' ? [] : query.split('&')) {
    const eq = part.indexOf('=')
    if (eq <= 0) fail(`"${part}" is not a query attribute of the form name=value`)
    const name = part.slice(0, eq).toLowerCase()
    if (!isQueryAttribute(name)) fail(`unknown query attribute "${name}" (known: module-path, pin-source)`)
    if (seen.has(name)) fail(`attribute "${name}" is given twice`)
    seen.add(name)
    const value = decodeText(part.slice(eq + 1), name)
    if (name === 'pin-value') fail('pin-value is refused: a PIN must never be part of a key setting; use pin-source')
    if (name === 'module-name') fail('module-name is not supported; name the module file with module-path')
    if (name === 'module-path') {
      if (!value.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(value)) fail('module-path must be an absolute path')
      out.modulePath = value
    } else {
      out.pinSource = value
    }
  }
  const type = out.attributes.type
  if (type !== undefined && !(OBJECT_TYPES as readonly string[]).includes(type)) {
    fail(`type "${type}" is not one of ${OBJECT_TYPES.join(', ')}`)
  }
  const slotId = out.attributes['slot-id']
  if (slotId !== undefined && !/^\d{1,20}$/.test(slotId)) fail('slot-id must be a decimal number')
  return out
}

/** Percent-encodes bytes for an `id` attribute. */
export function encodeId(id: Uint8Array): string {
  return [...id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
}
