// The quick configuration of `bktx server` from what was given and the bktx profile: the
// reference server set up for the profile's own org, subject, client id and key, so that
// `bktx token` works against it with no other configuration.
import { randomBytes } from 'node:crypto'
import type { ResolvedSettings } from '../config/resolve.js'
import { UsageError } from '../errors.js'
import { buildJwks } from '../jwks/build.js'
import { quickServerConfig, type QuickServerOptions } from '../server/config/quick-config.js'
import type { ServerConfig } from '../server/config/config.js'
import { keySpecOf } from '../config/key-spec.js'
import type { KeyDeps } from '../keys/open.js'

/** The quick options as given; a key file instead of a key set, and any option may be left to the profile. */
export interface QuickServerRequest extends Partial<Omit<QuickServerOptions, 'jwks'>> {
  /** A JWKS, JWK or PEM file (absolute path) holding the app's keys. */
  jwksFile?: string | undefined
}

/** The reason of the UsageError when no member is given and the profile's subject is not an email. */
export const NO_MEMBERS = 'no-members'

/**
 * The validated one-org, one-app configuration: each option not given comes from the profile
 * (org, else `acme`; the subject, when it is an email, as the one member; the client id, else
 * a random one; the public half of the profile key), then from QUICK_SERVER_DEFAULTS. A bad
 * value is the ConfigError of {@link quickServerConfig} (`quickOptionOf` names its option).
 */
export async function quickServerConfigFor(request: QuickServerRequest, settings: ResolvedSettings, keyDeps: KeyDeps): Promise<ServerConfig> {
  const org = request.org ?? settings.org?.value ?? 'acme'
  const members = request.members ?? (settings.subject !== undefined && settings['subject-type']?.value !== 'uuid' ? [settings.subject.value] : undefined)
  if (members === undefined || members.length === 0) {
    throw new UsageError('name at least one organisation member (or set the profile subject)', { detail: { option: 'member', reason: NO_MEMBERS } })
  }
  let jwks
  if (request.jwksUri === undefined) {
    if (request.jwksFile !== undefined) {
      const { loadKeyFile } = await import('../keys/load.js')
      jwks = buildJwks(await loadKeyFile(request.jwksFile))
    } else {
      // The profile key, whatever its source (a token key's public half, a signer's public-key file).
      const { loadPublicKeys } = await import('../keys/public.js')
      jwks = buildJwks(await loadPublicKeys(keySpecOf(settings), keyDeps))
    }
  }
  const { jwksFile: _file, ...options } = request
  return quickServerConfig({
    ...options,
    org,
    members,
    clientId: request.clientId ?? settings['client-id']?.value ?? randomBytes(10).toString('hex'),
    jwks,
  })
}
