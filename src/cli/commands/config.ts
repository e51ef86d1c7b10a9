import type { Command } from 'commander'
import { saveConfigFile } from '../../config/file.js'
import { InvalidSettingValue, isSettingName, SETTING_NAMES, SETTINGS, type SettingName } from '../../config/settings.js'
import { SettingMissingError, UsageError } from '../../errors.js'
import { escapeControls as clean } from '../../term/sanitize.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'

export function registerConfig(self: Command, deps: ProgramDeps): void {
  const config = self
    .description('show and change settings (resolved flag > env BKTX_* > profile > default)')
    .addHelpText('after', `\nSettings: ${SETTING_NAMES.join(', ')}`)

  action(config.command('list').description('every setting with its value and where it came from'), deps, (ctx) => runConfigList(ctx))
  action(
    config.command('get').description('print the resolved value of a setting').argument('<key>', 'setting name'),
    deps,
    (ctx, _opts, args) => runConfigGet(ctx, String(args[0])),
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
  action(
    config.command('unset').description('remove a setting from the profile').argument('<key>', 'setting name'),
    deps,
    (ctx, _opts, args) => runConfigUnset(ctx, String(args[0])),
  )
  action(config.command('path').description('print the configuration file path'), deps, async (ctx) => {
    ctx.out.data(ctx.configPath)
  })
}

function settingName(key: string): SettingName {
  if (!isSettingName(key)) throw new UsageError(`unknown setting "${key}"; settings: ${SETTING_NAMES.join(', ')}`)
  return key
}

export async function runConfigList(ctx: Context): Promise<void> {
  const settings = await ctx.settings({})
  const { name } = await ctx.profile()
  if (ctx.out.json) {
    ctx.out.document({ file: ctx.configPath, profile: name, settings })
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
  // Key paths are stored absolute so the profile works from any directory.
  if (name === 'key') normalised = ctx.absolute(normalised)
  const { name: profileName } = await ctx.profile({ create: true })
  const config = await ctx.config()
  config.profiles[profileName] = { ...config.profiles[profileName], [name]: normalised }
  await saveConfigFile(ctx.configPath, config)
  ctx.out.success(`profile "${profileName}": ${name} = ${normalised} (${ctx.configPath})`)
}

export async function runConfigUnset(ctx: Context, key: string): Promise<void> {
  const name = settingName(key)
  const profileName = ctx.explicitProfile ?? 'default'
  const config = await ctx.config()
  const profile = config.profiles[profileName]
  if (profile?.[name] === undefined) {
    ctx.out.info(`profile "${profileName}" has no ${name}; nothing to do`)
    return
  }
  delete profile[name]
  await saveConfigFile(ctx.configPath, config)
  ctx.out.success(`profile "${profileName}": removed ${name}`)
}
