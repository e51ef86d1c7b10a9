import { dirname, isAbsolute, resolve } from 'node:path'
import { loadConfigFile, PROFILE_NAME, type ConfigFile } from '../config/file.js'
import { UsageError } from '../errors.js'
import { configFileFor, explicitProfileFor, resolvePaths, type Paths } from '../config/paths.js'
import { resolveSettings, selectProfile, type ResolvedSettings } from '../config/resolve.js'
import type { SettingName } from '../config/settings.js'
import type { Deps } from '../deps.js'
import { Output } from './output.js'

/** The global options every command accepts (src/cli/program.ts). */
export interface GlobalOptions {
  profile?: string
  config?: string
  json?: boolean
  verbose?: boolean
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
  #config: Promise<ConfigFile> | undefined
  readonly #exit: (code: number) => void

  constructor(deps: Deps, globals: GlobalOptions, spinnerStream?: NodeJS.WritableStream, exit: (code: number) => void = () => undefined) {
    this.deps = deps
    this.#exit = exit
    this.paths = resolvePaths(deps.env, deps.home)
    this.configPath = configFileFor(globals.config, this.paths, deps.cwd)
    this.explicitProfile = explicitProfileFor(globals.profile, deps.env)
    this.out = new Output(deps.stdout, deps.stderr, {
      json: globals.json === true,
      verbose: globals.verbose === true,
      color: globals.color !== false,
      env: deps.env,
      spinnerStream,
    })
  }

  /** Ends the run with this exit code without an error (bktx exec passes its child's code on). */
  exit(code: number): void {
    this.#exit(code)
  }

  /** A path from a flag, relative to the working directory. */
  absolute(path: string): string {
    return isAbsolute(path) ? path : resolve(this.deps.cwd, path)
  }

  /** The configuration file, loaded and validated once per invocation. */
  config(): Promise<ConfigFile> {
    this.#config ??= loadConfigFile(this.configPath)
    return this.#config
  }

  /** The selected profile; `create` allows a new (empty) one, for commands that write it. */
  async profile(options: { create?: boolean } = {}) {
    const config = await this.config()
    if (options.create === true && this.explicitProfile !== undefined && config.profiles[this.explicitProfile] === undefined) {
      if (!PROFILE_NAME.test(this.explicitProfile)) {
        throw new UsageError(`"${this.explicitProfile}" is not a valid profile name (letters, digits, ".", "_", "-")`)
      }
      return { name: this.explicitProfile, profile: {} }
    }
    return selectProfile(config, this.configPath, this.explicitProfile)
  }

  /** Resolves every setting; `flags` are the values this command line gave. */
  async settings(flags: Partial<Record<SettingName, string>>): Promise<ResolvedSettings> {
    const { name, profile } = await this.profile()
    const settings = resolveSettings({
      flags,
      env: this.deps.env,
      profileName: name,
      profile,
      configDir: dirname(this.configPath),
      cwd: this.deps.cwd,
    })
    if (this.out.verbose) {
      for (const [key, found] of Object.entries(settings)) {
        if (found.source !== 'default') this.out.debug(`${key} from ${found.source}`)
      }
    }
    return settings
  }
}
