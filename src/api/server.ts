// `import { startReferenceServer } from 'bktx/server'`: the reference server of `bktx server`,
// for a user's own test suite. An entry point, like src/bin.ts: it supplies the system clock
// and Node's fetch (for JWKS URIs) unless given others.
import { listen } from '../http/listen.js'
import { MemoryAuditSink } from '../server/state/audit.js'
import { createTokenServer } from '../server/app.js'
import { parseServerConfig } from '../server/config/config.js'
import { asQuickOptionError, quickServerConfig, type QuickServerOptions } from '../server/config/quick-config.js'
import { systemClock } from '../time/clock.js'
import { ConfigError } from '../errors.js'
import type { QuickServerConfig, ReferenceServer, ReferenceServerOptions, ServerAuditRecord } from './server-types.js'

export type * from './server-types.js'
export type { Clock, PublicJWK, PublicJWKS } from './types.js'
export { BktxError, isBktxError, type ErrorCode, type ErrorDetail } from '../errors.js'

/**
 * Starts a reference token exchange server with Buildkite's semantics (POST /oauth/token and
 * /v2/oauth/token, GET|DELETE /v2/access-token, a small REST sample) on loopback.
 * Rejects with a BktxError of code BKTX_CONFIG_INVALID naming the field of a bad configuration
 * (`apps[0].max_ttl`), or for the quick form the option (`config.quick.maxTtl`).
 */
export async function startReferenceServer(input: ReferenceServerOptions): Promise<ReferenceServer> {
  // Own properties only (as in src/api/index.ts): a polluted Object.prototype must not choose
  // the host the server listens on, its state directory, or whether the configuration is quick.
  const options = own(input)
  const config = Object.hasOwn(options.config, 'quick')
    ? await quickConfig(own((options.config as { quick: QuickServerConfig }).quick))
    : await parseServerConfig(options.config, 'server configuration')
  const server = await createTokenServer(config, {
    clock: options.clock ?? systemClock,
    fetch: (input, init) => fetch(input, init),
    stateDir: options.stateDir,
    process: { pid: process.pid, uid: process.getuid?.(), isAlive },
    repairState: options.repairState === true,
    verbose: options.verbose === true,
    ...(options.log === undefined ? {} : { log: options.log }),
  })
  let listening
  try {
    listening = await listen(server.handler, { host: options.host ?? '127.0.0.1', port: options.port ?? 0, expectations: 'handler' })
  } catch (error) {
    server.close()
    throw error
  }
  const audit = server.state.audit
  return {
    url: listening.url,
    tokenUrl: `${listening.url}/oauth/token`,
    clientIds: config.apps.map((app) => app.clientId),
    // No cast: the compiler checks that the public record type still describes the real one.
    auditRecords: (): ServerAuditRecord[] => (audit instanceof MemoryAuditSink ? [...audit.records] : []),
    close: async () => {
      await listening.close(1000)
      server.close()
    },
  }
}

/** The quick form, with `bktx server`'s defaults; a bad value is named by its option (`config.quick.maxTtl`). */
async function quickConfig(quick: QuickServerConfig) {
  try {
    return await quickServerConfig(quick as QuickServerOptions)
  } catch (error) {
    throw error instanceof ConfigError ? asQuickOptionError(error, 'config.quick') : error
  }
}

function own<T extends object>(options: T | undefined): T {
  return Object.assign(Object.create(null) as T, options)
}

/** kill(pid, 0): the process exists if it succeeds, or fails only for want of permission. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
