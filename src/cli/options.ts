import { InvalidArgumentError, Option, type Command } from 'commander'
import { SETTINGS, type SettingName } from '../config/settings.js'
import { parseDuration } from '../time/duration.js'

// Without commander, for the token mint too (src/mint/main.ts).
export { camel, settingFlags } from './setting-flags.js'

/**
 * Adds the flags of the given settings. Their values resolve flag > environment > profile >
 * default in src/config/resolve.ts (not with commander's .env(), which reads process.env
 * directly and so could not be injected); the help text names the variable.
 */
export function addSettingOptions(cmd: Command, names: readonly SettingName[]): Command {
  for (const name of names) {
    const spec = SETTINGS[name]
    const defaultText = spec.default === undefined ? '' : `; default ${spec.default}`
    const option = new Option(`--${name} <${placeholder(name)}>`, `${spec.description} (env ${spec.env}${defaultText})`)
    // --scope may be repeated; the values are joined and normalised as one list.
    if (name === 'scope') option.argParser(collect)
    cmd.addOption(option)
  }
  return cmd
}

function placeholder(name: SettingName): string {
  switch (name) {
    case 'token-url':
    case 'api-url':
    case 'jwks-uri':
      return 'url'
    case 'key':
      return 'path'
    case 'ttl':
      return 'duration'
    case 'scope':
      return 'scopes'
    default:
      return name.replace(/-/g, '_')
  }
}

/** For repeatable options: --x a --x b → ['a', 'b']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** Commander arg parser for durations (90, 90s, 15m, 1h). */
export function durationArg(value: string): number {
  const seconds = parseDuration(value)
  if (seconds === undefined) throw new InvalidArgumentError('expected a duration such as 90, 90s, 15m or 1h.')
  return seconds
}

/** Commander arg parser for time limits: a duration of at least one second (`--timeout 0` would fail every call). */
export function timeoutArg(value: string): number {
  const seconds = parseDuration(value)
  if (seconds === undefined || seconds <= 0) throw new InvalidArgumentError('expected a duration of at least 1 second, such as 30, 30s or 2m.')
  return seconds
}

/** Commander arg parser for TCP ports (0 picks a free one). */
export function portArg(value: string): number {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN
  if (!(port >= 0 && port <= 65535)) throw new InvalidArgumentError('expected a port number from 0 to 65535.')
  return port
}
