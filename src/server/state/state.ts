import { join } from 'node:path'
import type { FetchLike } from '../../deps.js'
import { writeFileAtomic } from '../../fs/atomic.js'
import type { Clock } from '../../time/clock.js'
import { FileAuditSink, MemoryAuditSink, type AuditSink } from './audit.js'
import type { App, Member, Organization, ServerConfig } from '../config/config.js'
import { IpAllowList } from '../ip.js'
import { Journal } from './journal.js'
import { AppKeySets } from '../oauth/keysets.js'
import { RateLimiter } from '../rate-limit.js'
import { AUDIT_FILE, checkStateDir, openStateFile, readStateJournal, STATE_FILE, StateLock, type ServerProcess } from './state-dir.js'
import { TokenStore, type StoreLimits, type TokenRecord } from './store.js'

export interface ServerDeps {
  clock: Clock
  /** Outbound HTTP for JWKS URIs (jose's customFetch). */
  fetch: FetchLike
  /** Persist tokens, revocations, used jtis and the audit log here; in memory when absent. */
  stateDir?: string | undefined
  /** The running process: needed with `stateDir` (ownership checks and the directory lock). */
  process?: ServerProcess
  /** Drop damaged lines of state.jsonl instead of refusing to start (state-dir.ts). */
  repairState?: boolean
  limits?: StoreLimits
  /** Tests shorten the JWKS refetch cooldown (default 30 s, docs/token-exchange.md §9). */
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
  readonly #lock: StateLock | undefined
  /** Line numbers of state.jsonl dropped by `repairState`. */
  readonly repaired: readonly number[]

  private constructor(
    config: ServerConfig,
    deps: ServerDeps,
    store: TokenStore,
    audit: AuditSink,
    files: { journals: Journal[]; lock: StateLock; repaired: number[] } | undefined,
  ) {
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
      clock: deps.clock,
      allowHttpJwks: config.allowHttpJwks,
      ...(deps.jwksCooldownMs === undefined ? {} : { cooldownMs: deps.jwksCooldownMs }),
    })
    this.store = store
    this.audit = audit
    this.#journals = files?.journals ?? []
    this.#lock = files?.lock
    this.repaired = files?.repaired ?? []
  }

  /**
   * Opens the state. With a state directory: checks it (state-dir.ts), locks it, replays
   * state.jsonl (tokens stay valid, revoked ones revoked, used jtis rejected), rewrites it
   * compacted and atomically, and appends to it and to audit.jsonl from then on.
   */
  static async open(config: ServerConfig, deps: ServerDeps): Promise<ServerState> {
    const limits = deps.limits === undefined ? {} : { limits: deps.limits }
    if (deps.stateDir === undefined) return new ServerState(config, deps, new TokenStore(limits), new MemoryAuditSink(), undefined)
    const proc = deps.process
    if (proc === undefined) throw new TypeError('ServerDeps.process is required with a state directory')
    const dir = deps.stateDir
    checkStateDir(dir, proc.uid)
    const lock = StateLock.acquire(dir, proc)
    const journals: Journal[] = []
    try {
      const statePath = join(dir, STATE_FILE)
      const { lines, dropped } = readStateJournal(statePath, proc.uid, deps.repairState === true)
      const store = new TokenStore(limits)
      store.replay(lines, deps.clock.now().getTime() / 1000)
      // The temporary file is created with O_EXCL, and the rename replaces whatever is at the
      // name (a planted symlink included) without following it.
      await writeFileAtomic(
        statePath,
        store
          .snapshotLines()
          .map((line) => `${line}\n`)
          .join(''),
        { mode: 0o600, overwrite: true },
      )
      journals.push(new Journal(openStateFile(statePath, proc.uid), statePath))
      store.attach(journals[0] as Journal)
      const auditPath = join(dir, AUDIT_FILE)
      journals.push(new Journal(openStateFile(auditPath, proc.uid), auditPath))
      return new ServerState(config, deps, store, new FileAuditSink(journals[1] as Journal), { journals, lock, repaired: dropped })
    } catch (error) {
      for (const journal of journals) journal.close()
      lock.release()
      throw error
    }
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

  /**
   * Whether a token may still be used, judged against the configuration now (a restart may have
   * changed it since the token was minted): its app still exists in its organisation, the
   * organisation still has token exchange enabled, its user is still an active member. A token
   * acts as its user within the app's limits, so those are checked at use. The effective scopes
   * are the minted ones the app may still grant (docs/token-exchange.md §6 [bktx]).
   */
  standing(record: TokenRecord): { app: App; member: Member; scopes: string[] } | { refused: string } {
    const app = this.#apps.get(record.clientId)
    if (app === undefined) return { refused: `app ${JSON.stringify(record.clientId.slice(0, 64))} no longer exists` }
    if (app.org !== record.org) return { refused: `app ${JSON.stringify(app.clientId.slice(0, 64))} now belongs to organisation ${app.org}, not ${record.org}` }
    const org = this.#orgs.get(record.org)
    if (org === undefined) return { refused: `organisation ${record.org} no longer exists` }
    if (!org.tokenExchangeEnabled) return { refused: `organisation ${org.slug} has token exchange disabled` }
    const member = org.members.find((m) => m.uuid === record.user.uuid)
    if (member === undefined || !member.active) return { refused: `user ${record.user.email} is no longer an active member of ${org.slug}` }
    return { app, member, scopes: record.scopes.filter((scope) => app.grantableScopes.includes(scope)) }
  }

  close(): void {
    for (const journal of this.#journals) journal.close()
    this.#lock?.release()
  }
}
