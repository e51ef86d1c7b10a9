import { ConfigError } from '../../errors.js'
import { InputFileError, readInputFile } from '../../fs/input.js'
import { parseServerConfig, type ServerConfig, type ServerConfigOverrides } from './config.js'

/** A server configuration holds a few organisations and apps with their keys: 1 MiB is plenty. */
export const MAX_SERVER_CONFIG_BYTES = 1024 * 1024

/**
 * Reads and validates a server configuration file (JSON, src/server/config/config.ts's schema).
 * Every failure is a ConfigError naming the file, and the field when one is at fault.
 */
export async function loadServerConfigFile(path: string, overrides: ServerConfigOverrides = {}): Promise<ServerConfig> {
  let text: string
  try {
    // A regular file, capped while reading (src/fs/input.ts): a FIFO or /dev/zero must not hang
    // the server's start or fill its memory.
    text = readInputFile(path, MAX_SERVER_CONFIG_BYTES)
  } catch (cause) {
    if (!(cause instanceof InputFileError)) throw cause
    const problem = cause.problem === 'too-large' ? `${cause.text}; not a server configuration` : cause.text
    throw new ConfigError(path, undefined, problem, { cause, detail: { reason: cause.problem } })
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(path, undefined, `is not valid JSON (${(cause as Error).message})`, { cause, detail: { reason: 'not-json' } })
  }
  return parseServerConfig(data, path, overrides)
}
