import { readFile, stat } from 'node:fs/promises'
import { ConfigError } from '../errors.js'
import { errnoText } from '../fs/atomic.js'
import { parseServerConfig, type ServerConfig, type ServerConfigOverrides } from './config.js'

/** A server configuration holds a few organisations and apps with their keys: 1 MiB is plenty. */
export const MAX_SERVER_CONFIG_BYTES = 1024 * 1024

/**
 * Reads and validates a server configuration file (JSON, src/server/config.ts's schema).
 * Every failure is a ConfigError naming the file, and the field when one is at fault.
 */
export async function loadServerConfigFile(path: string, overrides: ServerConfigOverrides = {}): Promise<ServerConfig> {
  let text: string
  try {
    const info = await stat(path)
    if (!info.isFile()) throw new ConfigError(path, undefined, 'is not a regular file', { detail: { reason: 'not-a-file' } })
    if (info.size > MAX_SERVER_CONFIG_BYTES) throw new ConfigError(path, undefined, 'is larger than 1 MiB; not a server configuration', { detail: { reason: 'too-large' } })
    text = await readFile(path, 'utf8')
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause
    throw new ConfigError(path, undefined, `cannot be read: ${errnoText(cause)}`, { cause, detail: { reason: 'unreadable' } })
  }
  // The file may have grown since it was measured.
  if (text.length > MAX_SERVER_CONFIG_BYTES) throw new ConfigError(path, undefined, 'is larger than 1 MiB; not a server configuration', { detail: { reason: 'too-large' } })
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(path, undefined, `is not valid JSON (${(cause as Error).message})`, { cause, detail: { reason: 'not-json' } })
  }
  return parseServerConfig(data, path, overrides)
}
