import { copyFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { probePkcs11 } from '../../src/keys/pkcs11/probe.js'
import { writeKeyRecord } from '../../src/keys/record.js'
import { SYSTEM_MODULE } from '../fixtures/softhsm.js'
import { runCli, tempHome } from '../helpers/cli.js'
import { makeKey } from '../helpers/keys.js'

// `bktx status` and `doctor` with a pkcs11: key (issue 20): the recorded public half alone said
// "loads" / PASS where the binding had not built and every signature failed. Now they check that
// the binding and the module load (no session, no PIN). A missing binding is simulated with the
// binding seam (a package that does not exist), the module with SoftHSM2 when it is installed.

const MISSING_BINDING = 'bktx-test-no-such-pkcs11-binding'
const HANGING_BINDING = fileURLToPath(new URL('../fixtures/hanging-pkcs11.cjs', import.meta.url))

let cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups) await cleanup()
  cleanups = []
})

/** A home whose profile names a pkcs11: key in `module`, with its public half recorded as a run that read it would have. */
async function recordedKey(module: string, options: { record?: boolean } = {}) {
  const home = await tempHome()
  cleanups.push(home.cleanup)
  const uri = `pkcs11:token=bktx;object=ci?module-path=${module}`
  if (options.record !== false) await writeKeyRecord(uri, module, makeKey('ES256').publicKey, { env: home.env, home: home.dir, uid: process.getuid?.() })
  const env = { ...home.env, BKTX_KEY: uri, BKTX_CLIENT_ID: 'c', BKTX_ORG: 'acme', BKTX_SUBJECT: 'a@example.com' }
  const status = async (binding?: string) => {
    const result = await runCli(['status', '--json'], { env, ...(binding === undefined ? {} : { pkcs11Binding: binding }) })
    return JSON.parse(result.stdout).key
  }
  const doctorKey = async (binding?: string) => {
    const result = await runCli(['doctor', '--json', '--token-url', 'http://127.0.0.1:9/oauth/token'], {
      env,
      ...(binding === undefined ? {} : { pkcs11Binding: binding }),
    })
    return JSON.parse(result.stdout).checks.find((c: { id: string }) => c.id === 'key')
  }
  return { home, uri, status, doctorKey }
}

describe('status and doctor with a pkcs11: key', () => {
  it('without the binding: does not load, FAIL with the reinstall advice, although the public half is recorded', async () => {
    const { status, doctorKey } = await recordedKey(SYSTEM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so')
    expect(await status(MISSING_BINDING)).toMatchObject({
      source: { kind: 'pkcs11' },
      loads: false,
      error: {
        code: 'BKTX_PKCS11_MODULE',
        message: expect.stringContaining(`PKCS#11 support is not installed: the optional package ${MISSING_BINDING} did not load`),
      },
    })
    expect(await doctorKey(MISSING_BINDING)).toMatchObject({
      status: 'fail',
      message: `PKCS#11 support is not installed: the optional package ${MISSING_BINDING} did not load`,
      fix: expect.stringContaining(`reinstall bktx where ${MISSING_BINDING} can build`),
    })
  })

  it('with a module that is not there, or not a PKCS#11 library: does not load, naming the module', async () => {
    const missing = await recordedKey('/nonexistent/libpkcs11.so')
    expect(await missing.doctorKey()).toMatchObject({
      status: 'fail',
      message: 'the PKCS#11 module /nonexistent/libpkcs11.so cannot be used: no such file or directory (ENOENT)',
    })
    const notALibrary = join(missing.home.dir, 'not-a-library.so')
    await writeFile(notALibrary, 'not an ELF file', { mode: 0o600 })
    const wrong = await recordedKey(notALibrary)
    expect(await wrong.status()).toMatchObject({
      loads: false,
      error: { message: expect.stringContaining(`the PKCS#11 module ${notALibrary} does not load (not a PKCS#11 library for this platform?)`) },
    })
  })

  it.skipIf(SYSTEM_MODULE === undefined)('with the binding and a SoftHSM2 module that loads and initialises: loads, PASS', async () => {
    const home = await tempHome()
    cleanups.push(home.cleanup)
    // A private copy, as a user's module would be: bktx refuses a module others can change.
    const module = join(home.dir, 'libsofthsm2.so')
    await copyFile(SYSTEM_MODULE as string, module)
    const conf = join(home.dir, 'softhsm2.conf')
    await writeFile(conf, `directories.tokendir = ${home.dir}\nobjectstore.backend = file\nlog.level = ERROR\n`)
    // SoftHSM reads its configuration with getenv(3): the process's own environment.
    const before = process.env['SOFTHSM2_CONF']
    process.env['SOFTHSM2_CONF'] = conf
    cleanups.push(async () => {
      if (before === undefined) delete process.env['SOFTHSM2_CONF']
      else process.env['SOFTHSM2_CONF'] = before
    })
    const { status, doctorKey } = await recordedKey(module)
    expect(await status()).toMatchObject({ source: { kind: 'pkcs11' }, loads: true, alg: 'ES256' })
    expect(await doctorKey()).toMatchObject({ status: 'pass' })
    // The module loads, but status never reads a key from the token: without a record it says so.
    const unrecorded = await recordedKey(module, { record: false })
    expect(await unrecorded.status()).toMatchObject({ loads: false, error: { message: expect.stringContaining('has not been read from the token yet') } })
  })

  it('a module that does not finish initialising is reported after the timeout, not waited for', async () => {
    const error = await probePkcs11({ modulePath: '/bin/sh', uid: process.getuid?.(), binding: HANGING_BINDING, timeoutMs: 200 }).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'BKTX_PKCS11_MODULE',
      message: 'the PKCS#11 module /bin/sh did not load and initialise within 0.2s',
      detail: { reason: 'module-not-answering' },
    })
  })
})
