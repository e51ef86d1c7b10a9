// `bktx status` without the full CLI (dist/fast-status.cjs, src/fast/status-main.ts): status
// runs in shell prompts and scripts, and commander, chalk and the command table cost more than
// the report itself. It serves a run that ends in a report: the same resolution as the full
// CLI's Context (src/cli/context.ts: locateConfig, loadConfigFile, settingsFrom), the same
// collectStatus and the same rendering (src/doctor/status-view.ts), so stdout is the full CLI's by
// construction. Anything else (an option it does not know, --verbose, --help, a value it
// cannot take, any error) returns undefined and the full CLI runs and words it.
import { loadConfigFile } from '../config/file.js'
import { locateConfig, settingsFrom } from '../config/load.js'
import { collectStatus, type StatusDeps } from '../doctor/status.js'
import { statusOutput } from '../doctor/status-view.js'
import type { Clock } from '../time/clock.js'
import { GLOBAL_FLAGS } from './args.js'

/** What the fast path needs: the report's dependencies and the working directory (a relative --config). */
export type FastStatusDeps = StatusDeps & { cwd: string; clock: Clock }

// --verbose prints where each setting came from (src/cli/context.ts): the full CLI does that.
const FULL_CLI_ONLY = new Set(['--verbose', '-v'])

export interface FastStatusArgs {
  profile: string | undefined
  config: string | undefined
  json: boolean
  /** False with --no-color: only an `error:` line (stdout failing) is ever coloured. */
  color: boolean
}

/**
 * `bktx status` arguments (after the command) the fast path can serve, or undefined. `bktx
 * status` has the global options only (src/cli/program.ts); a test checks this against
 * commander's definition.
 */
export function parseFastStatusArgs(argv: readonly string[]): FastStatusArgs | undefined {
  const out: FastStatusArgs = { profile: undefined, config: undefined, json: false, color: true }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const arity = (GLOBAL_FLAGS as Record<string, 'value' | 'boolean' | undefined>)[flag]
    if (arity === undefined || FULL_CLI_ONLY.has(flag)) return undefined
    if (arity === 'boolean') {
      if (eq !== -1) return undefined
      if (flag === '--json') out.json = true
      else if (flag === '--no-color') out.color = false
      // --quiet, -q: status prints no notes or warnings to drop.
      continue
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    // A missing or empty value, or one that looks like a flag: let commander take it.
    if (value === undefined || value === '' || (eq === -1 && value.startsWith('-'))) return undefined
    if (flag === '--profile') out.profile = value
    else out.config = value
  }
  return out
}

/** What `bktx status ARGV` prints on stdout when it succeeds, else undefined (the full CLI runs). */
export async function statusAnswer(args: FastStatusArgs, deps: FastStatusDeps): Promise<string | undefined> {
  try {
    const { configPath, explicitProfile } = locateConfig({ env: deps.env, home: deps.home, cwd: deps.cwd, config: args.config, profile: args.profile })
    const { settings, profile } = settingsFrom(await loadConfigFile(configPath, deps.uid), {
      flags: {},
      env: deps.env,
      cwd: deps.cwd,
      configPath,
      explicitProfile,
    })
    const report = await collectStatus({ configPath, profile, explicitProfile: explicitProfile !== undefined, settings }, deps)
    return statusOutput(report, { explicitProfile, deps }, args.json)
  } catch {
    // A configuration the full CLI reports (or a key only it can describe, scripts/build.mjs): it runs again and words it.
    return undefined
  }
}
