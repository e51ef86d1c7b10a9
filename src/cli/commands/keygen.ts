import { Option, type Command } from 'commander'
import { join } from 'node:path'
import { saveConfigFile } from '../../config/file.js'
import { writeFileAtomic } from '../../fs/atomic.js'
import { NO_KID, withKidLabel } from '../../keys/pem.js'
import { RSA_BITS, type SigningAlg } from '../../keys/policy.js'
import { UsageError } from '../../errors.js'
import { parseKeySource } from '../../keys/source.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { generateTokenKey } from '../../keys/pkcs11/key.js'

export interface KeygenOptions {
  alg: SigningAlg
  bits?: number
  kid?: string
  out?: string
  force: boolean
  /** A pkcs11: URI: generate the pair inside that token instead of a file. */
  key?: string
  pkcs11Module?: string
  pinSource?: string
}

// A kid becomes a file name when --out is not given: keep it to a safe alphabet.
const FILE_SAFE_KID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export function registerKeygen(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('generate a signing keypair: private key to a 0600 file, public JWKS on stdout')
    .addOption(new Option('--alg <alg>', 'key algorithm').choices(['ES256', 'RS256']).default('ES256'))
    .addOption(new Option('--bits <bits>', 'RSA modulus length (RS256 only; default 2048)').choices(RSA_BITS.map(String)).argParser(Number))
    .option('--kid <kid>', 'key ID (default: the RFC 7638 thumbprint of the public key)')
    .option('--out <path>', 'private key file (default: $XDG_CONFIG_HOME/bktx/keys/<kid>.pem)')
    .option('--force', 'replace an existing key file (the old key is lost)', false)
    .option('--key <pkcs11-uri>', 'generate the pair inside a PKCS#11 token (pkcs11:token=...;object=...); the private key never leaves it')
    .option('--pkcs11-module <path>', 'PKCS#11 module for --key when its URI has no module-path (env BKTX_PKCS11_MODULE)')
    .option('--pin-source <source>', 'where the token PIN is read: env:NAME or file:PATH (default: $BKTX_PKCS11_PIN)')
    .addHelpText('after', '\nThe --profile given (or BKTX_PROFILE) records the key path (or URI) in that profile.')
  action<KeygenOptions>(cmd, deps, (ctx, opts) => runKeygen(ctx, opts))
}

export async function runKeygen(ctx: Context, opts: KeygenOptions): Promise<void> {
  if (opts.key !== undefined) return runTokenKeygen(ctx, opts, opts.key)
  if (opts.kid !== undefined && opts.out === undefined && !FILE_SAFE_KID.test(opts.kid)) {
    throw new UsageError('--kid names the key file; use letters, digits, ".", "_" and "-", or pass --out')
  }
  if (opts.kid === NO_KID || (opts.kid !== undefined && /\s/.test(opts.kid))) {
    throw new UsageError(`--kid "${opts.kid}" cannot name a key${opts.kid === NO_KID ? ' ("none" means no kid header when signing)' : ': no spaces'}`)
  }
  // Read the config before writing anything: an invalid file must fail before a key exists.
  const config = await ctx.config()
  const { name: profileName, profile } = await ctx.profile({ create: true })

  // jose is loaded only by the commands that use it (the cached token path never does).
  const { generateSigningKey } = await import('../../keys/generate.js')
  const key = await ctx.out.spin(`generating ${opts.alg} key`, () =>
    generateSigningKey({ alg: opts.alg, ...(opts.bits === undefined ? {} : { bits: opts.bits }), ...(opts.kid === undefined ? {} : { kid: opts.kid }) }),
  )
  const path = opts.out !== undefined ? ctx.absolute(opts.out) : join(ctx.paths.keysDir, `${key.kid}.pem`)
  // A custom kid travels in the file (src/keys/pem.ts), so jwks, jwks serve and sign all use it.
  await writeFileAtomic(path, opts.kid === undefined ? key.privatePem : withKidLabel(key.privatePem, opts.kid), {
    mode: 0o600,
    dirMode: 0o700,
    overwrite: opts.force,
    existsAdvice: ['pass ', { option: 'force' }, ' to replace it (the key in it is then lost)'],
  })

  // Record the key in the profile chosen explicitly, or in the default profile on first use.
  const record = ctx.explicitProfile !== undefined || profile.key === undefined
  const previous = profile.key
  if (record) {
    const updated = { ...profile, key: path }
    // The new key's kid is its own (the file names it); a `none` policy (no kid header) stays.
    if (updated.kid !== NO_KID) delete updated.kid
    config.profiles[profileName] = updated
    await saveConfigFile(ctx.configPath, config)
    ctx.out.info(`profile "${profileName}": key = ${path}${previous !== undefined && previous !== path ? ` (was ${previous})` : ''}`)
  }

  const jwks = { keys: [key.publicJwk] }
  if (ctx.out.json) ctx.out.document({ kid: key.kid, alg: key.alg, path, profile: record ? profileName : null, jwks })
  else ctx.out.data(JSON.stringify(jwks, null, 2))

  ctx.out.success(`wrote ${key.alg} private key ${path} (mode 0600, kid ${key.kid})`)
  if (!record) {
    // A second keygen must not look like it moved the profile to the new key.
    ctx.out.info(`note: profile "${profileName}" still signs with ${profile.key}; this key is used by no profile.`)
    ctx.out.info('To move to a new key without breaking exchanges, use `bktx key rotate` (it publishes old and new together and')
    ctx.out.info('waits out the hour Buildkite may cache the JWKS); or sign with this one now: `bktx config set key ' + path + '`.')
  } else if (previous !== undefined && previous !== path) {
    ctx.out.info(`note: profile "${profileName}" now signs with this key. Until its JWKS is registered, exchanges fail;`)
    ctx.out.info('`bktx key rotate` switches keys without that gap.')
  }
  ctx.out.info('Next: register the JWKS printed on stdout with your Buildkite token exchange application')
  ctx.out.info('(inline, or publish it with `bktx jwks --out FILE` and register its https URL).')
  ctx.out.info('Keep the private key file private; bktx never prints it.')
}

/** `bktx keygen --key pkcs11:...`: the pair is generated inside the token, non-extractable. */
async function runTokenKeygen(ctx: Context, opts: KeygenOptions, key: string): Promise<void> {
  const source = parseKeySource(key)
  if (source.kind !== 'pkcs11') throw new UsageError('--key names a PKCS#11 token to generate the key in (pkcs11:...); for a key file use --out')
  if (opts.out !== undefined || opts.force) throw new UsageError('--out and --force are for key files; a key in a token is never written out or replaced')
  const config = await ctx.config()
  const { name: profileName, profile } = await ctx.profile({ create: true })
  // A profile being created has no settings yet, but the environment's still count.
  config.profiles[profileName] ??= profile
  const settings = await ctx.settings({
    ...(opts.pkcs11Module === undefined ? {} : { 'pkcs11-module': opts.pkcs11Module }),
    ...(opts.pinSource === undefined ? {} : { 'pin-source': opts.pinSource }),
  })
  if (opts.alg === 'ES256' && opts.bits !== undefined) throw new UsageError('--bits applies to RS256 keys only')
  const keyDeps = ctx.keyDeps()
  const generated = await ctx.out.spin(`generating ${opts.alg} key in the token`, () =>
    generateTokenKey(
      {
        uri: source.uri,
        source: source.text,
        kid: opts.kid,
        publicKeyPath: undefined,
        pkcs11Module: settings['pkcs11-module']?.value,
        pinSource: settings['pin-source']?.value,
        ...keyDeps,
      },
      opts.alg,
      opts.bits ?? 2048,
    ),
  )
  const { parseKeys } = await import('../../keys/load.js')
  const [loaded] = await parseKeys(generated.publicKey.export({ format: 'pem', type: 'spki' }) as string, generated.uri, opts.kid === undefined ? {} : { kid: opts.kid })
  if (loaded === undefined) throw new Error('no public key read back from the token')

  const record = ctx.explicitProfile !== undefined || profile.key === undefined
  if (record) {
    const updated = { ...profile, key: generated.uri }
    if (opts.kid !== undefined) updated.kid = opts.kid
    else delete updated.kid
    delete updated['public-key']
    // Flags only: values from the environment stay there.
    if (opts.pkcs11Module !== undefined) updated['pkcs11-module'] = ctx.absolute(opts.pkcs11Module)
    if (opts.pinSource !== undefined) updated['pin-source'] = opts.pinSource
    config.profiles[profileName] = updated
    await saveConfigFile(ctx.configPath, config)
    ctx.out.info(`profile "${profileName}": key = ${generated.uri}${profile.key !== undefined && profile.key !== generated.uri ? ` (was ${profile.key})` : ''}`)
  }
  const jwks = { keys: [loaded.publicJwk] }
  if (ctx.out.json) ctx.out.document({ kid: loaded.kid, alg: loaded.alg, uri: generated.uri, profile: record ? profileName : null, jwks })
  else ctx.out.data(JSON.stringify(jwks, null, 2))
  ctx.out.success(`generated ${loaded.alg} key pair in the token: ${generated.uri} (kid ${loaded.kid}; sensitive, not extractable)`)
  ctx.out.info('Next: register the JWKS printed on stdout with your Buildkite token exchange application.')
}
