// The profile a setup step writes to (keygen records its key there). Shared by the CLI's
// context and the library, so both pick, and may create, the same profile.
import { PROFILE_NAME, type ConfigFile, type Profile } from '../config/file.js'
import { selectProfile } from '../config/resolve.js'
import { UsageError } from '../errors.js'

/**
 * The selected profile, which may be a new (empty) one when it was named explicitly: a step
 * that writes the configuration creates the profile it was asked to write.
 */
export function profileToWrite(config: ConfigFile, configPath: string, explicitProfile: string | undefined): { name: string; profile: Profile } {
  if (explicitProfile !== undefined && config.profiles[explicitProfile] === undefined) {
    if (!PROFILE_NAME.test(explicitProfile)) {
      throw new UsageError(`"${explicitProfile}" is not a valid profile name (letters, digits, ".", "_", "-")`)
    }
    return { name: explicitProfile, profile: {} as Profile }
  }
  const { name, profile } = selectProfile(config, configPath, explicitProfile)
  return { name, profile }
}
