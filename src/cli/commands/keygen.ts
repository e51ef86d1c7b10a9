import { Option, type Command } from 'commander'
import { RSA_BITS, type SigningAlg } from '../../keys/policy.js'
import { UsageError } from '../../errors.js'
import { parseKeySource } from '../../keys/source.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import type { KeyProfileTarget } from '../../setup/keygen.js'

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
  // Loaded when keygen runs: the program registers every command, and the key generation
  // (jose's exporters, the PKCS#11 code) stays off every other command's start-up.
  const { generateKeyFile, kidProblem } = await import('../../setup/keygen.js')
  const problem = kidProblem(opts.kid, opts.out !== undefined)
  if (problem === 'file-name') throw new UsageError('--kid names the key file; use letters, digits, ".", "_" and "-", or pass --out')
  if (problem !== undefined)
    throw new UsageError(`--kid "${opts.kid}" cannot name a key${problem === 'reserved' ? ' ("none" means no kid header when signing)' : ': no spaces'}`)
  const result = await generateKeyFile(
    {
      alg: opts.alg,
      bits: opts.bits,
      kid: opts.kid,
      out: opts.out === undefined ? undefined : ctx.absolute(opts.out),
      keysDir: ctx.paths.keysDir,
      force: opts.force,
      progress: (label, work) => ctx.out.spin(label, work),
    },
    profileTarget(ctx),
  )
  const path = result.key
  const profileName = result.profile ?? ''
  const previous = result.previousKey
  if (result.recorded) ctx.out.info(`profile "${profileName}": key = ${path}${previous !== undefined && previous !== path ? ` (was ${previous})` : ''}`)

  if (ctx.out.json) ctx.out.document({ kid: result.kid, alg: result.alg, path, profile: result.recorded ? profileName : null, jwks: result.jwks })
  else ctx.out.data(JSON.stringify(result.jwks, null, 2))

  ctx.out.success(`wrote ${result.alg} private key ${path} (mode 0600, kid ${result.kid})`)
  if (!result.recorded) {
    // A second keygen must not look like it moved the profile to the new key.
    ctx.out.info(`note: profile "${profileName}" still signs with ${previous}; this key is used by no profile.`)
    ctx.out.info('To move to a new key without breaking exchanges, use `bktx key rotate` (it publishes old and new together and')
    ctx.out.info(`waits out the hour Buildkite may cache the JWKS); or sign with this one now: \`bktx config set key ${path}\`.`)
  } else if (previous !== undefined && previous !== path) {
    ctx.out.info(`note: profile "${profileName}" now signs with this key. Until its JWKS is registered, exchanges fail;`)
    ctx.out.info('`bktx key rotate` switches keys without that gap.')
  }
  ctx.out.info('Next: register the JWKS printed on stdout with your Buildkite token exchange application')
  ctx.out.info('(inline, or publish it with `bktx jwks --out FILE` and register its https URL).')
  ctx.out.info('Keep the private key file private; bktx never prints it.')
}

/** The profile keygen records the key in: --profile (or BKTX_PROFILE), else the default one. */
function profileTarget(ctx: Context): KeyProfileTarget {
  return { configPath: ctx.configPath, explicitProfile: ctx.explicitProfile, loadConfig: () => ctx.config() }
}

/** `bktx keygen --key pkcs11:...`: the pair is generated inside the token, non-extractable. */
async function runTokenKeygen(ctx: Context, opts: KeygenOptions, key: string): Promise<void> {
  const source = parseKeySource(key)
  if (source.kind !== 'pkcs11') throw new UsageError('--key names a PKCS#11 token to generate the key in (pkcs11:...); for a key file use --out')
  if (opts.out !== undefined || opts.force) throw new UsageError('--out and --force are for key files; a key in a token is never written out or replaced')
  const config = await ctx.config()
  const { name, profile } = await ctx.profile({ create: true })
  // A profile being created has no settings yet, but the environment's still count.
  config.profiles[name] ??= profile
  const settings = await ctx.settings({
    ...(opts.pkcs11Module === undefined ? {} : { 'pkcs11-module': opts.pkcs11Module }),
    ...(opts.pinSource === undefined ? {} : { 'pin-source': opts.pinSource }),
  })
  if (opts.alg === 'ES256' && opts.bits !== undefined) throw new UsageError('--bits applies to RS256 keys only')
  const { generateTokenKeyPair } = await import('../../setup/keygen.js')
  const result = await generateTokenKeyPair(
    {
      uri: source.uri,
      source: source.text,
      alg: opts.alg,
      bits: opts.bits,
      kid: opts.kid,
      pkcs11Module: settings['pkcs11-module']?.value,
      pinSource: settings['pin-source']?.value,
      // Flags only: values from the environment stay there.
      record: { pkcs11Module: opts.pkcs11Module === undefined ? undefined : settings['pkcs11-module']?.value, pinSource: opts.pinSource },
      ...ctx.keyDeps(),
      progress: (label, work) => ctx.out.spin(label, work),
    },
    profileTarget(ctx),
  )
  const previous = result.previousKey
  if (result.recorded)
    ctx.out.info(`profile "${result.profile}": key = ${result.key}${previous !== undefined && previous !== result.key ? ` (was ${previous})` : ''}`)
  if (ctx.out.json) ctx.out.document({ kid: result.kid, alg: result.alg, uri: result.key, profile: result.recorded ? result.profile : null, jwks: result.jwks })
  else ctx.out.data(JSON.stringify(result.jwks, null, 2))
  ctx.out.success(`generated ${result.alg} key pair in the token: ${result.key} (kid ${result.kid}; sensitive, not extractable)`)
  ctx.out.info('Next: register the JWKS printed on stdout with your Buildkite token exchange application.')
}
