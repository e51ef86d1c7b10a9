import type { Command } from 'commander'
import { parentOf, saveConfigFile } from '../../config/file.js'
import { InvalidSettingValue, isSettingName, SETTING_NAMES, SETTINGS, type SettingName } from '../../config/settings.js'
import { SettingMissingError, UsageError } from '../../errors.js'
import { escapeControls as clean } from '../../text/sanitize.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import type { JsonFields } from '../json-fields.js'

export function registerConfig(self: Command, deps: ProgramDeps): void {
  const config = self
    .description('show and change settings (resolved flag > env BKTX_* > profile > default)')
    .addHelpText('after', `\nSettings: ${SETTING_NAMES.join(', ')}`)

  action(config.command('list').description('every setting with its value and where it came from'), deps, (ctx) => runConfigList(ctx))
  action(config.command('get').description('print the resolved value of a setting').argument('<key>', 'setting name'), deps, (ctx, _opts, args) =>
    runConfigGet(ctx, String(args[0])),
  )
  action(
    config
      .command('set')
      .description('set a setting in the profile (--profile, default "default")')
      .argument('<key>', 'setting name')
      .argument('<value>', 'value'),
    deps,
    (ctx, _opts, args) => runConfigSet(ctx, String(args[0]), String(args[1])),
  )
  action(config.command('unset').description('remove a setting from the profile').argument('<key>', 'setting name'), deps, (ctx, _opts, args) =>
    runConfigUnset(ctx, String(args[0])),
  )
  action(config.command('path').description('print the configuration file path'), deps, async (ctx) => {
    if (ctx.out.json) ctx.out.document({ path: ctx.configPath } satisfies JsonFields<'config path'>)
    else ctx.out.data(ctx.configPath)
  })
  action(config.command('profiles').description('the profiles in the file, what each inherits from, and which is in use'), deps, (ctx) =>
    runConfigProfiles(ctx),
  )
}

export async function runConfigProfiles(ctx: Context): Promise<void> {
  const config = await ctx.config()
  const active = ctx.explicitProfile ?? 'default'
  const names = Object.keys(config.profiles)
  if (!names.includes('default')) names.unshift('default')
  const rows = names.map((name) => {
    const profile = config.profiles[name]
    return {
      name,
      active: name === active,
      extends: parentOf(name, profile) ?? null,
      settings: Object.keys(profile ?? {})
        .filter((key) => key !== 'extends')
        .sort(),
      in_file: profile !== undefined,
    }
  })
  if (ctx.out.json) {
    ctx.out.document({ file: ctx.configPath, active, profiles: rows } satisfies JsonFields<'config profiles'>)
    return
  }
  const width = Math.max(...rows.map((r) => r.name.length))
  ctx.out.data(
    rows
      .map(
        (r) =>
          `${r.active ? '*' : ' '} ${r.name.padEnd(width)}  ${r.extends === null ? '(inherits nothing)' : `extends ${r.extends}`}  ${r.in_file ? r.settings.join(' ') || '(no settings)' : '(not in the file)'}`,
      )
      .join('\n'),
  )
  ctx.out.info(`* the profile in use (--profile, BKTX_PROFILE, else default); ${ctx.configPath}`)
}

function settingName(key: string): SettingName {
  if (!isSettingName(key)) throw new UsageError(`unknown setting "${key}"; settings: ${SETTING_NAMES.join(', ')}`)
  return key
}

export async function runConfigList(ctx: Context): Promise<void> {
  const settings = await ctx.settings({})
  const { name } = await ctx.profile()
  if (ctx.out.json) {
    ctx.out.document({ file: ctx.configPath, profile: name, settings } satisfies JsonFields<'config list'>)
    return
  }
  // Values come from the file and the environment: one line each, control characters escaped.
  const rows = SETTING_NAMES.map((key) => [key, clean(settings[key]?.value ?? ''), clean(settings[key]?.source ?? '(unset)')] as const)
  const w0 = Math.max(...rows.map((r) => r[0].length))
  const w1 = Math.max(...rows.map((r) => r[1].length))
  ctx.out.data(rows.map(([k, v, s]) => `${k.padEnd(w0)}  ${v.padEnd(w1)}  ${s}`).join('\n'))
  ctx.out.info(`profile "${name}" in ${ctx.configPath}`)
}

export async function runConfigGet(ctx: Context, key: string): Promise<void> {
  const name = settingName(key)
  const found = (await ctx.settings({}))[name]
  if (found === undefined) throw new SettingMissingError(name)
  if (ctx.out.json) ctx.out.document({ key: name, ...found })
  else ctx.out.data(found.value)
}

export async function runConfigSet(ctx: Context, key: string, value: string): Promise<void> {
  const name = settingName(key)
  let normalised: string
  try {
    normalised = SETTINGS[name].validate(value)
  } catch (cause) {
    if (!(cause instanceof InvalidSettingValue)) throw cause
    throw new UsageError(`${name}: ${cause.message}`)
  }
  // Paths (key files, public keys, modules, PIN files) are stored absolute so the profile works
  // from any directory; key sources (env:, pkcs11:, exec:) are kept as they are.
  normalised = SETTINGS[name].resolvePath?.(normalised, ctx.deps.cwd) ?? normalised
  const { name: profileName } = await ctx.profile({ create: true })
  const config = await ctx.config()
  config.profiles[profileName] = { ...config.profiles[profileName], [name]: normalised }
  await saveConfigFile(ctx.configPath, config)
  if (ctx.out.json) ctx.out.document({ file: ctx.configPath, profile: profileName, key: name, value: normalised, changed: true })
  ctx.out.success(`profile "${profileName}": ${name} = ${normalised} (${ctx.configPath})`)
}

export async function runConfigUnset(ctx: Context, key: string): Promise<void> {
  const name = settingName(key)
  const profileName = ctx.explicitProfile ?? 'default'
  const config = await ctx.config()
  const profile = config.profiles[profileName]
  if (profile?.[name] === undefined) {
    if (ctx.out.json) ctx.out.document({ file: ctx.configPath, profile: profileName, key: name, changed: false })
    ctx.out.info(`profile "${profileName}" has no ${name}; nothing to do`)
    return
  }
  delete profile[name]
  await saveConfigFile(ctx.configPath, config)
  if (ctx.out.json) ctx.out.document({ file: ctx.configPath, profile: profileName, key: name, changed: true })
  ctx.out.success(`profile "${profileName}": removed ${name}`)
}
