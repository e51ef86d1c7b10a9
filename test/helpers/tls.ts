import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

export interface CertPair {
  /** PEM certificate, self-signed, for CN=localhost with SANs IP:127.0.0.1 and DNS:localhost. */
  cert: string
  key: string
}

const cached = new Map<string, Promise<CertPair>>()

/**
 * A throwaway self-signed P-256 certificate made with the openssl command line (node:crypto
 * cannot issue X.509 certificates). One per label per test file. `dnsNames` are added to its
 * subject alternative names (proxied tests name loopback servers `token.test`: bktx never
 * sends loopback through a proxy).
 */
export function selfSignedCert(label = 'default', dnsNames: readonly string[] = []): Promise<CertPair> {
  let pair = cached.get(label)
  if (pair !== undefined) return pair
  pair = (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bktx-tls-'))
    try {
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...dnsNames.map((n) => `DNS:${n}`)].join(',')}`,
      ])
      return { cert: await readFile(join(dir, 'cert.pem'), 'utf8'), key: await readFile(join(dir, 'key.pem'), 'utf8') }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })()
  cached.set(label, pair)
  return pair
}
