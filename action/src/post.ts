// The Action's post step (post-if: always()): revoke the token the main step minted, named by
// the state it saved, so a later step that replaced BUILDKITE_API_TOKEN is not what is revoked.
// Cleanup never fails the job (google-github-actions/auth's post step does, and users complain:
// a green job turns red over a cleanup) and never keeps it waiting: one bounded call.
import { revokeToken } from '../../src/api/index.js'
import { describeError } from './describe.js'
import { bktxEnv } from './main.js'
import { command, type Runner } from './runner.js'

/** The whole revocation, retries included. The process also ends itself a little later. */
export const REVOKE_BUDGET_MS = 10_000

export async function post(runner: Runner): Promise<number> {
  const env = runner.env
  const token = env['STATE_token'] ?? ''
  if (token === '') {
    runner.write('No token to revoke (none was minted, or revoke is false)\n')
    return 0
  }
  const apiUrl = env['STATE_api-url'] ?? ''
  const tokenUrl = env['STATE_token-url'] ?? ''
  try {
    const result = await revokeToken(token, {
      // No cache: the main step cached nothing, and this step must not open the keychain.
      env: { ...bktxEnv(env, undefined), BKTX_CACHE: 'none' },
      config: false,
      ...(apiUrl === '' ? {} : { apiUrl }),
      ...(tokenUrl === '' ? {} : { tokenUrl }),
      timeoutMs: REVOKE_BUDGET_MS,
    })
    // DELETE /v2/access-token answers 401 for a token it no longer knows: revoked by a step of
    // the job (bktx revoke), or expired. Either way it is no longer usable, which is the goal.
    runner.write(result.alreadyInvalid ? 'The Buildkite API token was already invalid (revoked or expired)\n' : 'Revoked the Buildkite API token\n')
  } catch (error) {
    command(runner, 'warning', `could not revoke the Buildkite API token; it stays valid until it expires: ${describeError(error)}`)
  }
  return 0
}
