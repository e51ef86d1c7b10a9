// Which cache a process may see: the tokens of its own home, or, in a CI job, of that job only.
// Two jobs of one agent or runner host usually run as the same uid with the same HOME
// (`buildkite-agent --spawn N`, several self-hosted GitHub runners): a cache shared between
// them hands job B the token job A minted, and A's `bktx logout` turns it into a 401 mid-run.
// So every cache directory is a subdirectory of the uid's private cache directory, named after a
// hash of the home (its resolved XDG cache path) and, in a CI job, of the job's identity; the
// entry lock lives in it too, so the processes of one job still single-flight. Light on purpose:
// the cache-hit fast path computes the scope (one hash, no file system call), with the plain
// JavaScript SHA-256 (src/hash/sha256.ts): node:crypto would cost a hit about 5 ms to load.
import type { Env } from '../deps.js'
import { sha256Hex } from '../hash/sha256.js'

/** A CI system whose job identity bktx knows. */
export type CIProvider = 'buildkite' | 'github' | 'gitlab' | 'circleci' | 'jenkins'

/** One CI system's identity of the running job: the values that tell this job from every other. */
export interface JobIdentity {
  provider: CIProvider
  parts: string[]
}

export interface CacheScope {
  /** The directory name under the private cache directory: `home-<16 hex>` or `job-<16 hex>`. */
  name: string
  kind: 'home' | 'job'
  /** The CI systems that identified the job (empty for a home scope). */
  providers: CIProvider[]
}

/** The name of a scope directory; nothing else in the private cache directory is one. */
export const SCOPE_NAME = /^(home|job)-[0-9a-f]{16}$/

/** The variables that identify a job, per CI system (docs: README "The cache"). */
export const JOB_VARIABLES: Record<CIProvider, string> = {
  buildkite: 'BUILDKITE_JOB_ID',
  github: 'GITHUB_RUN_ID + GITHUB_RUN_ATTEMPT + GITHUB_JOB',
  gitlab: 'CI_JOB_ID',
  circleci: 'CIRCLE_WORKFLOW_JOB_ID',
  jenkins: 'BUILD_TAG',
}

/** True when the environment says it is CI (GitHub Actions, Buildkite, GitLab... set CI). */
export function isCI(env: Env): boolean {
  const value = env['CI']
  return value !== undefined && value !== '' && value !== 'false' && value !== '0'
}

function value(env: Env, name: string): string | undefined {
  const v = env[name]
  return v === undefined || v === '' ? undefined : v
}

/**
 * The identities of the running CI job, one per CI system that names it (usually one; all are
 * kept when several do, which only narrows the scope):
 * - Buildkite: `BUILDKITE_JOB_ID`, a UUID per job (a retry is a new job);
 * - GitHub Actions: `GITHUB_RUN_ID` + `GITHUB_RUN_ATTEMPT` + `GITHUB_JOB`. The legs of a matrix
 *   share all three, so `RUNNER_NAME` (legs running at once run on different runners) and
 *   `RUNNER_TRACKING_ID` are added: the runner sets the latter to `github_<new GUID>` for each
 *   job it runs (actions/runner src/Runner.Worker/JobExtension.cs), so legs that one runner
 *   runs one after another differ too;
 * - GitLab: `CI_JOB_ID` (unique in an instance) with `CI_SERVER_URL`;
 * - CircleCI: `CIRCLE_WORKFLOW_JOB_ID`, a UUID per job;
 * - Jenkins: `BUILD_TAG` (`jenkins-<job>-<build number>`) with `JENKINS_URL`. Jenkins does not
 *   set CI: the identity alone makes the scope.
 */
export function jobIdentities(env: Env): JobIdentity[] {
  const found: JobIdentity[] = []
  const buildkite = value(env, 'BUILDKITE_JOB_ID')
  if (buildkite !== undefined) found.push({ provider: 'buildkite', parts: [buildkite] })
  const run = value(env, 'GITHUB_RUN_ID')
  const job = value(env, 'GITHUB_JOB')
  if (run !== undefined && job !== undefined) {
    const extra = ['GITHUB_SERVER_URL', 'GITHUB_RUN_ATTEMPT', 'RUNNER_NAME', 'RUNNER_TRACKING_ID'].map((name) => value(env, name) ?? '')
    found.push({ provider: 'github', parts: [run, job, ...extra] })
  }
  const gitlab = value(env, 'CI_JOB_ID')
  if (gitlab !== undefined) found.push({ provider: 'gitlab', parts: [gitlab, value(env, 'CI_SERVER_URL') ?? ''] })
  const circle = value(env, 'CIRCLE_WORKFLOW_JOB_ID')
  if (circle !== undefined) found.push({ provider: 'circleci', parts: [circle] })
  const jenkins = value(env, 'BUILD_TAG')
  if (jenkins !== undefined) found.push({ provider: 'jenkins', parts: [jenkins, value(env, 'JENKINS_URL') ?? ''] })
  return found
}

/**
 * The scope of this process: its home (`homeKey`, the resolved XDG cache path, so that two
 * HOMEs, or two XDG_CACHE_HOMEs, of one uid never share) and, when a CI job is identified, the
 * job. 64 bits of SHA-256: enough to keep a host's scopes apart; not a secret (any process of
 * the uid can read the directories anyway: scoping keeps jobs from sharing by accident, it is
 * no boundary between processes of one uid).
 */
export function cacheScope(env: Env, homeKey: string): CacheScope {
  const jobs = jobIdentities(env)
  const kind = jobs.length === 0 ? 'home' : 'job'
  const input = JSON.stringify(['bktx-scope-v1', homeKey, ...jobs.map((j) => [j.provider, ...j.parts])])
  // A cache hit asks twice (the key identities, then the token cache): hashed once.
  if (lastScope?.input !== input) lastScope = { input, hash: sha256Hex(input).slice(0, 16) }
  return { name: `${kind}-${lastScope.hash}`, kind, providers: jobs.map((j) => j.provider) }
}

let lastScope: { input: string; hash: string } | undefined
