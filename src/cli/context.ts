import { isAbsolute, resolve } from 'node:path'
import { loadConfigFile, type ConfigFile } from '../config/file.js'
import { locateConfig, settingsFrom } from '../config/load.js'
import type { Notice } from '../errors.js'
import { resolvePaths, type Paths } from '../config/paths.js'
import { selectProfile, type ResolvedSettings } from '../config/resolve.js'
import type { SettingName } from '../config/settings.js'
import type { Deps } from '../deps.js'
import type { TokenHandover } from '../token/request.js'
import { profileToWrite } from '../setup/profile.js'
import type { Outcome } from './exit-codes.js'
import { describeNotice } from '../term/describe.js'
import { Output, type SpinnerStream } from './output.js'
import { quietFromEnv } from '../term/quiet.js'

/** The global options every command accepts (src/cli/program.ts). */
export interface GlobalOptions {
  profile?: string
  config?: string
  json?: boolean
  verbose?: boolean
  quiet?: boolean
  color?: boolean
}

/**
 * What a command's action needs beyond its own flags: output, paths, the config file and the
 * settings resolved from flag > env > profile > default. Built per invocation; nothing global.
 */
export class Context {
  readonly deps: Deps
  readonly out: Output
  readonly paths: Paths
  /** --config, else $BKTX_CONFIG, else the XDG default. */
  readonly configPath: string
  /** --profile, else $BKTX_PROFILE; undefined means "default" chosen implicitly. */
  readonly explicitProfile: string | undefined
  /** --profile, --config, --json... as commander parsed them. */
  readonly globals: GlobalOptions
  /** The request the fast path resolved for this command line, on a cache miss (src/bin.ts). */
  readonly handover: TokenHandover | undefined
  #config: Promise<ConfigFile> | undefined
  /** An invalid --profile or BKTX_PROFILE: thrown by the first look at the configuration. */
  readonly #invalidProfile: unknown
  readonly #exit: (outcome: Outcome) => void

  constructor(
    deps: Deps & { handover?: TokenHandover | undefined },
    globals: GlobalOptions,
    spinnerStream?: SpinnerStream,
    exit: (outcome: Outcome) => void = () => undefined,
  ) {
    this.deps = deps
    this.globals = globals
    this.handover = deps.handover
    this.#exit = exit
    this.paths = resolvePaths(deps.env, deps.home)
    let located
    try {
      located = locateConfig({ env: deps.env, home: deps.home, cwd: deps.cwd, config: globals.config, profile: globals.profile })
    } catch (error) {
      // Reported as the command's own failure (--json applies), before any profile is looked up.
      this.#invalidProfile = error
      located = locateConfig({ env: { ...deps.env, BKTX_PROFILE: undefined }, home: deps.home, cwd: deps.cwd, config: globals.config })
    }
    this.configPath = located.configPath
    this.explicitProfile = located.explicitProfile
    this.out = new Output(deps.stdout, deps.stderr, {
      json: globals.json === true,
      verbose: globals.verbose === true,
      quiet: globals.quiet === true || quietFromEnv(deps.env),
      color: globals.color !== false,
      env: deps.env,
      spinnerStream,
    })
  }

  /** A notice (the cache degraded, say) as one warning line with its advice. */
  notice(notice: Notice): void {
    this.out.warn(describeNotice(notice, { profile: this.explicitProfile }))
  }

  /**
   * Ends the run with this outcome without an error: bktx exec passes its child's exit code
   * on, or its death by a signal (src/exit-codes.ts, signalOutcome).
   */
  exit(outcome: Outcome): void {
    this.#exit(outcome)
  }

  /** A path from a flag, relative to the working directory. */
  absolute(path: string): string {
    return isAbsolute(path) ? path : resolve(this.deps.cwd, path)
  }

  /** What opening a signing key needs (src/keys/open.ts): the environment for env: keys and PINs, the cache directory for token key records. */
  keyDeps(): { env: Deps['env']; home: string; uid: number | undefined; cwd: string } {
    return { env: this.deps.env, home: this.deps.home, uid: this.deps.uid, cwd: this.deps.cwd }
  }

  /** The configuration file, loaded and validated once per invocation. */
  config(): Promise<ConfigFile> {
    if (this.#invalidProfile !== undefined) return Promise.reject(this.#invalidProfile)
    this.#config ??= loadConfigFile(this.configPath, this.deps.uid)
    return this.#config
  }

  /** The selected profile; `create` allows a new (empty) one, for commands that write it. */
  async profile(options: { create?: boolean } = {}) {
    const config = await this.config()
    if (options.create === true) return profileToWrite(config, this.configPath, this.explicitProfile)
    return selectProfile(config, this.configPath, this.explicitProfile)
  }

  /** Resolves every setting (src/config/load.ts); `flags` are the values this command line gave. */
  async settings(flags: Partial<Record<SettingName, string>>): Promise<ResolvedSettings> {
    const { settings } = settingsFrom(await this.config(), {
      flags,
      env: this.deps.env,
      cwd: this.deps.cwd,
      configPath: this.configPath,
      explicitProfile: this.explicitProfile,
    })
    if (this.out.verbose) {
      for (const [key, found] of Object.entries(settings)) {
        if (found.source !== 'default') this.out.debug(`${key} from ${found.source}`)
      }
    }
    return settings
  }
}
