import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { tempHome } from './cli.js'
import { CLIENT_ID, MEMBER, ORG, startServer, type RunningServer } from './server.js'

export interface TokenWorld {
  home: Awaited<ReturnType<typeof tempHome>>
  server: RunningServer
  keyPath: string
  /** Environment pointing bktx at the server, the key and the temp home. */
  env: Record<string, string>
  /** Mints counted in the server's audit log. */
  mints(): number
  cleanup(): Promise<void>
}

/** A temp home, a reference server on 127.0.0.1, and the env that points bktx at both. */
export async function tokenWorld(options: Parameters<typeof startServer>[0] = {}): Promise<TokenWorld> {
  const home = await tempHome()
  const server = await startServer(options)
  const keyPath = join(home.dir, 'key.pem')
  await writeFile(keyPath, server.key.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const env = {
    ...home.env,
    BKTX_TOKEN_URL: server.tokenUrl,
    BKTX_API_URL: server.url,
    BKTX_CLIENT_ID: CLIENT_ID,
    BKTX_KEY: keyPath,
    BKTX_KID: server.key.kid,
    BKTX_ORG: ORG,
    BKTX_SUBJECT: MEMBER,
  }
  return {
    home,
    server,
    keyPath,
    env,
    mints: () => (server.server.state.audit as MemoryAuditSink).records.filter((r) => r.type === 'token.minted').length,
    cleanup: async () => {
      await server.stop()
      await home.cleanup()
    },
  }
}
