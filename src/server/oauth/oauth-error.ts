/**
 * A token endpoint error (RFC 6749 §5.2). `description` is public and goes in the response;
 * `detail` is private and goes only to the audit log and the verbose request log (after
 * node-oidc-provider's split), so a caller learns that authentication failed, not which check
 * it failed.
 */
export class OAuthError extends Error {
  readonly status: number
  readonly error: string
  readonly description: string
  readonly detail: string
  readonly headers: Record<string, string>
  readonly #body: unknown

  constructor(error: string, description: string, detail?: string, options: { status?: number; headers?: Record<string, string>; body?: unknown } = {}) {
    super(description)
    this.error = error
    this.description = description
    this.detail = detail ?? description
    // docs/token-exchange.md §5 [bktx]: 400, except invalid_client 401.
    this.status = options.status ?? (error === 'invalid_client' ? 401 : 400)
    // No WWW-Authenticate, not even on a 401: RFC 6749 §5.2 asks for a challenge only when the
    // client authenticated with the Authorization header, which this endpoint refuses (400); a
    // client assertion in the body has no HTTP authentication scheme. A challenge made up for it
    // (`private_key_jwt realm=...`, before issue 22) made oauth4webapi 3 and openid-client 6 throw
    // a challenge error instead of reading `error_description` from the body
    // (docs/token-exchange.md §5 [bktx]).
    this.headers = options.headers ?? {}
    this.#body = options.body
  }

  /** The response body: RFC 6749 §5.2's, plus any documented extra members. */
  body(): unknown {
    return { ...(this.#body as object | undefined), error: this.error, error_description: this.description }
  }
}

// The documented pairs of docs/token-exchange.md §5, verbatim.
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
  // [bktx]: the terse description of every other client authentication failure that the
  // request alone decides (its shape, header, claims), so it tells the caller nothing it did
  // not send. Failures that depend on what the server knows share `signature` (client-auth.ts).
  clientAuth: 'Client authentication failed',
} as const

export const invalidClient = (detail: string, description: string = DESCRIPTIONS.clientAuth): OAuthError =>
  new OAuthError('invalid_client', description, detail)

/**
 * A client authentication failure decided by what the server knows about the client before its
 * signature verifies (is the client id registered, is the caller inside its exchange IP list, is
 * the kid registered, can its JWKS be fetched): all share the documented signature description,
 * so a caller without the key learns none of those facts (docs/token-exchange.md §5 [bktx]).
 */
export const unverified = (detail: string): OAuthError => invalidClient(detail, DESCRIPTIONS.signature)

export const invalidRequest = (description: string, detail?: string, status?: number): OAuthError =>
  new OAuthError('invalid_request', description, detail, status === undefined ? {} : { status })
