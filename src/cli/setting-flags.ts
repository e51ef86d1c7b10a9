// The setting values of a command line as commander parsed them. Apart from ./options.ts, which
// defines the flags with commander: the token mint (src/mint/main.ts) reads its options
// without loading commander.
import type { SettingName } from '../config/settings.js'

/** The setting values given as flags, keyed by setting name, as strings. */
export function settingFlags(opts: Record<string, unknown>, names: readonly SettingName[]): Partial<Record<SettingName, string>> {
  const out: Partial<Record<SettingName, string>> = {}
  for (const name of names) {
    const value = opts[camel(name)]
    if (Array.isArray(value)) out[name] = value.join(' ')
    else if (typeof value === 'string') out[name] = value
  }
  return out
}

export function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}
