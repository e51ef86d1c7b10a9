// Whether a pkcs11: key can be used at all on this machine, for `bktx status` and `doctor`: the
// binding loads (pkcs11js is an optional native addon that may not have built), and the module
// loads and initialises. No slot, session, login or PIN: nothing that prompts or touches a key.
// Without this, status described a recorded public key as "loads" on a machine where every
// signature fails (issue 20).
import { Worker } from 'node:worker_threads'
import { Pkcs11ModuleError } from '../../errors.js'
import { bindingPath, loadBinding } from './binding.js'
import { checkModuleFile, moduleError, rvName } from './token.js'

/** How long the module may take to load and initialise before status stops waiting for it. */
export const PROBE_TIMEOUT_MS = 3000

export interface Pkcs11ProbeInput {
  /** The module; undefined when none is configured (only the binding is checked). */
  modulePath: string | undefined
  /** The user running bktx: a module another user can change is refused, as when signing. */
  uid: number | undefined
  /** For tests: another binding package in place of pkcs11js (a missing one: a build without it). */
  binding?: string | undefined
  timeoutMs?: number
}

// Runs in a worker thread: module calls are synchronous, and a module that hangs in C_Initialize
// (a smart card daemon that does not answer) must not hang status with it.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
let stage = 'load'
try {
  const module = new (require(workerData.binding).PKCS11)()
  module.load(workerData.module)
  stage = 'initialise'
  try {
    module.C_Initialize()
  } catch (error) {
    if (!error || error.code !== 0x191) throw error
  }
  module.C_GetInfo()
  try { module.C_Finalize() } catch {}
  try { module.close() } catch {}
  parentPort.postMessage({ ok: true })
} catch (error) {
  parentPort.postMessage({ ok: false, stage, message: String(error && error.message), code: error && typeof error.code === 'number' ? error.code : undefined })
}
`

/**
 * Resolves when the binding loads and the module (when given) passes the checks signing makes
 * (absolute path of a file only its owner or root can change) and loads and initialises; else
 * rejects with the Pkcs11ModuleError a signature would fail with. A module that has not
 * answered within the timeout is reported as such (its thread is left to finish on its own).
 */
export async function probePkcs11(input: Pkcs11ProbeInput): Promise<void> {
  loadBinding(input.binding)
  if (input.modulePath === undefined) return
  const target = { modulePath: input.modulePath, uid: input.uid }
  checkModuleFile(target)
  const timeoutMs = input.timeoutMs ?? PROBE_TIMEOUT_MS
  const worker = new Worker(WORKER, { eval: true, workerData: { binding: bindingPath(input.binding), module: input.modulePath } })
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const answer = await new Promise<{ ok: boolean; stage?: string; message?: string; code?: number }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)))
      timer = setTimeout(() => resolve({ ok: false, stage: 'timeout' }), timeoutMs)
    })
    if (answer.ok) return
    const cause = Object.assign(new Error(answer.message ?? 'no answer'), answer.code === undefined ? {} : { code: answer.code })
    if (answer.stage === 'timeout') {
      throw new Pkcs11ModuleError(`the PKCS#11 module ${input.modulePath} did not load and initialise within ${timeoutMs / 1000}s`, {
        detail: { setting: 'pkcs11-module', file: input.modulePath, reason: 'module-not-answering' },
        advice: ['check that the device or service the module talks to is there (a smart card reader, pcscd)'],
      })
    }
    if (answer.stage === 'load')
      throw moduleError(target, `the PKCS#11 module ${input.modulePath} does not load (not a PKCS#11 library for this platform?)`, cause)
    throw moduleError(target, `the PKCS#11 module ${input.modulePath} failed to initialise (${rvName(cause)})`, cause)
  } finally {
    clearTimeout(timer)
    worker.removeAllListeners()
    worker.on('error', () => undefined)
    void worker.terminate()
    worker.unref()
  }
}
