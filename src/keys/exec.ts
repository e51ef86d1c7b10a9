// `exec:COMMAND` keys: an external program signs. The bridge to keys bktx cannot hold: cloud
// KMS (aws kms sign, gcloud kms asymmetric-sign), Vault transit, agents. bktx writes the JWS
// signing input to the command's stdin and reads the signature from its stdout; the public key
// comes from the `public-key` setting, and every signature is verified with it before use.
import { spawn } from 'node:child_process'
import type { KeyObject } from 'node:crypto'
import { platform } from 'node:os'
import type { Env } from '../env.js'
import { isBktxError, SignerError } from '../errors.js'
import type { SigningAlg } from './policy.js'
import { childGroupGuard } from './exec-guard.js'
import { signatureCandidates, verifiesWith } from './signature.js'

// The guard the entry points install (./exec-guard.ts, where they set it without loading this module).
export { setChildGroupGuard, type ChildGroupGuard } from './exec-guard.js'

/** A bound on a signer when the caller gives none (the token commands pass --timeout's budget). */
export const DEFAULT_SIGNER_TIMEOUT_MS = 30_000
// A signature is at most 512 bytes (RSA 4096), or about 700 in base64: anything much larger is not one.
const MAX_OUTPUT_BYTES = 64 * 1024

export interface ExecSignRequest {
  command: string
  /** `exec:COMMAND`, for messages. */
  source: string
  alg: SigningAlg
  kid: string
  publicKey: KeyObject
  /** The environment the command runs with (bktx's own, as injected). */
  env: Env
  signal?: AbortSignal | undefined
  cwd?: string | undefined
}

/**
 * Runs the signer once. The command runs through the shell (`/bin/sh -c`, `cmd.exe` on
 * Windows), so a recipe can be a pipeline, in its own process group: when the time runs out
 * the whole group is killed, not just the shell. The group is killed too once the signature is
 * read (whatever the signer left running in the background), and when bktx gets a signal that
 * ends it or exits while the signer runs (src/term/process.ts, guardChildGroup): a signer never outlives
 * the call that started it. Its stderr is passed through, so its own
 * messages reach the user; bktx's errors name the command, never its output. The environment
 * adds BKTX_SIGNING_ALG and BKTX_SIGNING_KID. Stdout may be the raw signature, base64 or
 * base64url, and for ES256 either r‖s or DER (what OpenSSL and the cloud KMSes return).
 */
export async function runSigner(input: Uint8Array, request: ExecSignRequest): Promise<Uint8Array> {
  const output = await run(input, request)
  const rsaBytes = request.alg === 'RS256' ? Math.ceil((request.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8) : 0
  const candidates = signatureCandidates(output, request.alg, rsaBytes)
  const good = candidates.find((signature) => verifiesWith(request, input, signature))
  if (good !== undefined) return good
  if (candidates.length > 0) return candidates[0] as Uint8Array // signAssertion reports it: it does not verify
  const expected = request.alg === 'ES256' ? '64 raw bytes (r‖s) or a DER ECDSA signature' : `${rsaBytes} bytes`
  throw new SignerError(`${request.source} printed ${output.length} bytes that are not an ${request.alg} signature (expected ${expected}, raw or base64)`, {
    detail: { setting: 'key', reason: 'bad-output' },
    advice: ['make the command print only the signature on stdout'],
  })
}

function run(input: Uint8Array, request: ExecSignRequest): Promise<Buffer> {
  const windows = platform() === 'win32'
  return new Promise((resolve, reject) => {
    const own = new AbortController()
    const timer = request.signal === undefined ? setTimeout(() => own.abort(), DEFAULT_SIGNER_TIMEOUT_MS) : undefined
    const signal = request.signal ?? own.signal
    const child = spawn(request.command, {
      shell: true,
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: !windows,
      windowsHide: true,
      env: { ...request.env, BKTX_SIGNING_ALG: request.alg, BKTX_SIGNING_KID: request.kid },
      ...(request.cwd === undefined ? {} : { cwd: request.cwd }),
    })
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    // The group's id is the shell's pid (detached: setsid). Until the group is killed, bktx's
    // ending signals and its exit kill it first.
    const release = windows || child.pid === undefined ? undefined : childGroupGuard()(child.pid)
    const finish = (error: Error | undefined, value?: Buffer) => {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      // Success or not, nothing the signer started is needed any more.
      kill()
      if (error !== undefined) reject(error)
      else resolve(value as Buffer)
    }
    const kill = () => {
      if (release !== undefined) release(true)
      else if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGKILL')
        } catch {
          // Already gone.
        }
      }
      child.stdout?.destroy()
    }
    const onAbort = () =>
      finish(
        // SIGINT (an InterruptedError as the reason) stays an interruption; anything else is the time running out.
        isBktxError(signal.reason)
          ? signal.reason
          : new SignerError(`${request.source} did not answer in time; it was stopped`, {
              detail: { setting: 'key', option: 'timeout', reason: 'timeout' },
              advice: ['check the command, or allow more time with ', { option: 'timeout' }],
            }),
      )
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })

    child.on('error', (cause) =>
      finish(new SignerError(`${request.source} could not be started: ${cause.message}`, { cause, detail: { setting: 'key', reason: 'spawn-failed' } })),
    )
    child.stdout?.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_OUTPUT_BYTES) {
        finish(new SignerError(`${request.source} printed more than 64 KiB; that is not a signature`, { detail: { setting: 'key', reason: 'bad-output' } }))
      } else {
        chunks.push(chunk)
      }
    })
    // A command that exits without reading its input closes the pipe: not our failure.
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(Buffer.from(input))
    // The shell is done: whatever it left in the background (holding stdout open, so 'close'
    // would wait for it) goes now, and the output read so far is all there is.
    child.on('exit', () => release?.(true))
    child.on('close', (code, killedBy) => {
      if (code === 0) return finish(undefined, Buffer.concat(chunks))
      const how = killedBy !== null ? `was killed by ${killedBy}` : `exited with status ${code}${code === 127 ? ' (command not found?)' : ''}`
      finish(
        new SignerError(`${request.source} ${how}`, {
          detail: { setting: 'key', reason: killedBy !== null ? 'killed' : 'exit-status' },
          advice: ['its own messages, if any, are above; check ', { setting: 'key' }],
        }),
      )
    })
  })
}
