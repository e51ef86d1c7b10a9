import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { FetchLike } from '../deps.js'
import { writeFileAtomic } from '../fs/atomic.js'
import type { Clock } from '../time/clock.js'
import { FileAuditSink, MemoryAuditSink, type AuditSink } from './audit.js'
import type { App, Organization, ServerConfig } from './config.js'
import { IpAllowList } from './ip.js'
import { Journal } from './journal.js'
import { AppKeySets } from './keysets.js'
import { RateLimiter } from './rate-limit.js'
import { TokenStore, type StoreLimits } from './store.js'

export interface ServerDeps {
  clock: Clock
  /** Outbound HTTP for JWKS URIs (jose's customFetch). */
  fetch: FetchLike
  /** Persist tokens, revocations, used jtis and the audit log here; in memory when absent. */
  stateDir?: string | undefined
  limits?: StoreLimits
  /** Tests shorten the JWKS refetch cooldown (default 30 s, docs/buildkite-protocol.md §9). */
  jwksCooldownMs?: number
}

/** Everything the endpoints share: configuration lookups, keys, tokens, limits, audit. */
export class ServerState {
  readonly config: ServerConfig
  readonly keys: AppKeySets
  readonly store: TokenStore
  readonly rateLimiter = new RateLimiter()
  readonly audit: AuditSink
  readonly #apps: Map<string, App>
  readonly #orgs: Map<string, Organization>
  readonly #exchangeIps = new Map<string, IpAllowList>()
  readonly #tokenIps = new Map<string, IpAllowList>()
  readonly #clock: Clock
  readonly #journals: Journal[] = []

  private constructor(config: ServerConfig, deps: ServerDeps, store: TokenStore, audit: AuditSink, journals: Journal[]) {
    this.config = config
    this.#clock = deps.clock
    this.#apps = new Map(config.apps.map((app) => [app.clientId, app]))
    this.#orgs = new Map(config.organizations.map((org) => [org.slug, org]))
    for (const app of config.apps) {
      this.#exchangeIps.set(app.clientId, new IpAllowList(app.exchangeIps))
      this.#tokenIps.set(app.clientId, new IpAllowList(app.tokenIps))
    }
    this.keys = new AppKeySets({
      fetch: deps.fetch,
      allowHttpJwks: config.allowHttpJwks,
      ...(deps.jwksCooldownMs === undefined ? {} : { cooldownMs: deps.jwksCooldownMs }),
    })
    this.store = store
    this.audit = audit
    this.#journals = journals
  }

  /**
   * Opens the state: with a state directory, replays state.jsonl (tokens stay valid, revoked
   * ones revoked, used jtis rejected), rewrites it compacted and atomically, and appends to it
   * and to audit.jsonl from then on.
   */
  static async open(config: ServerConfig, deps: ServerDeps): Promise<ServerState> {
    if (deps.stateDir === undefined) {
      return new ServerState(config, deps, new TokenStore(deps.limits === undefined ? {} : { limits: deps.limits }), new MemoryAuditSink(), [])
    }
    mkdirSync(deps.stateDir, { recursive: true, mode: 0o700 })
    const statePath = join(deps.stateDir, 'state.jsonl')
    const loader = new TokenStore()
    loader.load(statePath, deps.clock.now().getTime() / 1000)
    await writeFileAtomic(statePath, loader.snapshotLines().map((line) => `${line}\n`).join(''), { mode: 0o600, overwrite: true })
    const stateJournal = new Journal(statePath)
    const store = new TokenStore({ journal: stateJournal, ...(deps.limits === undefined ? {} : { limits: deps.limits }) })
    store.load(statePath, deps.clock.now().getTime() / 1000)
    const auditJournal = new Journal(join(deps.stateDir, 'audit.jsonl'))
    return new ServerState(config, deps, store, new FileAuditSink(auditJournal), [stateJournal, auditJournal])
  }

  /** Seconds since the epoch (fractional), from the injected clock. */
  now(): number {
    return this.#clock.now().getTime() / 1000
  }

  app(clientId: string): App | undefined {
    return this.#apps.get(clientId)
  }

  org(slug: string): Organization | undefined {
    return this.#orgs.get(slug)
  }

  exchangeIps(app: App): IpAllowList {
    return this.#exchangeIps.get(app.clientId) as IpAllowList
  }

  tokenIps(app: App): IpAllowList {
    return this.#tokenIps.get(app.clientId) as IpAllowList
  }

  close(): void {
    for (const journal of this.#journals) journal.close()
  }
}
