import { Option, type Command } from 'commander'
import type { SettingName } from '../config/settings.js'
import { DEFAULT_MIN_TTL, DEFAULT_TIMEOUT, TOKEN_SETTINGS } from '../token/settings.js'
import { formatDuration } from '../time/duration.js'
import { addSettingOptions, durationArg, timeoutArg } from './options.js'

// The flags of the commands that obtain a token. What a command does with them is in
// ./obtain.ts, without commander (the token mint, src/mint/main.ts, runs it).
export * from './obtain.js'

// No commander default for --min-ttl: a minimum the user gave is one they hear about when the
// token's lifetime caps it (src/token/min-ttl.ts); the default applies, capped silently, without.
const MIN_TTL_HELP = `serve a cached token only with at least this long left (default ${formatDuration(DEFAULT_MIN_TTL)}; capped at half its lifetime)`

/** Adds the flags of commands that obtain a token: settings, cache and network. */
export function addTokenOptions(cmd: Command, extra: readonly SettingName[] = []): Command {
  addSettingOptions(cmd, [...TOKEN_SETTINGS.filter((name) => name !== 'cache'), ...extra])
  return cmd
    .addOption(new Option('--cache <mode>', 'token cache: auto, keychain, file or none (env BKTX_CACHE; default auto)'))
    .option('--no-cache', 'do not read or write the cache (same as --cache none)')
    .option('--refresh', 'mint a new token even when a cached one is still good')
    .option('--min-ttl <duration>', MIN_TTL_HELP, durationArg)
    .option('--timeout <duration>', 'bound on the whole exchange, retries included', timeoutArg, DEFAULT_TIMEOUT)
    .option('--ca-file <pem>', 'also trust these CA certificates (a TLS-intercepting proxy, a private CA)')
}
