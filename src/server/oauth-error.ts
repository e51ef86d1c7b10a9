/**
 * A token endpoint error (RFC 6749 §5.2). `description` is public and goes in the response;
 * `detail` is private and goes only to the audit log (after node-oidc-provider's split), so a
 * caller learns that authentication failed, not which check it failed.
 */
export class OAuthError extends Error {
  readonly status: number
  readonly error: string
  readonly description: string
  readonly detail: string
  readonly headers: Record<string, string>
  readonly #body: unknown

  constructor(
    error: string,
    description: string,
    detail?: string,
    options: { status?: number; headers?: Record<string, string>; body?: unknown } = {},
  ) {
    super(description)
    this.error = error
    this.description = description
    this.detail = detail ?? description
    // docs/buildkite-protocol.md §5 CHOICE: 400, except invalid_client 401.
    this.status = options.status ?? (error === 'invalid_client' ? 401 : 400)
    this.headers = options.headers ?? {}
    this.#body = options.body
  }

  /** The response body: RFC 6749 §5.2's, unless a different documented shape was given. */
  body(): unknown {
    return this.#body ?? { error: this.error, error_description: this.description }
  }
}

// The documented pairs of docs/buildkite-protocol.md §5, verbatim.
export const DESCRIPTIONS = {
  signature: 'Invalid client assertion signature',
  aud: 'JWT `aud` claim is invalid',
  exp: 'JWT `exp` claim must be in the future',
  replay: 'JWT has already been used (jti)',
  jtiRequired: 'JWT must contain a `jti` claim',
  subject: 'Subject user must be an active member of the organization',
  scopeExceeds: 'Requested scopes exceed grantable scopes',
  audience: 'Invalid audience organization',
  disabled: 'Token exchange is not enabled for this organization',
  // CHOICE: the terse description for every other client authentication failure.
  clientAuth: 'Client authentication failed',
} as const

export const invalidClient = (detail: string, description: string = DESCRIPTIONS.clientAuth): OAuthError =>
  new OAuthError('invalid_client', description, detail)

export const invalidRequest = (description: string, detail?: string, status?: number): OAuthError =>
  new OAuthError('invalid_request', description, detail, status === undefined ? {} : { status })
