// Issue 22, finding 4: an `exec:` signer, and whatever it starts, never outlives the call that
// ran it: not after a successful signature, not when bktx dies of a signal it does not handle
// itself, not when the job's process group is signalled (a CI runner cancelling the job).
// The built binary, `bktx sign` (no server needed); every wait is polled with generous bounds.
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempHome } from '../helpers/cli.js'
import { BIN, runBin } from '../helpers/spawn.js'

let home: Awaited<ReturnType<typeof tempHome>>
let dir: string
let env: Record<string, string>

const pem = (key: { export(o: object): string | Buffer }, type: 'pkcs8' | 'spki') => key.export({ format: 'pem', type }) as string
// A sleep no other test or process runs: its command line is how its processes are found.
const marker = () => `${4000 + Math.floor(Math.random() * 900)}.${Math.floor(Math.random() * 90) + 10}`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o700 })
  return path
}

async function processesRunning(command: string): Promise<string[]> {
  const found: string[] = []
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.split('\0').filter(Boolean).join(' ') === command) found.push(pid)
  }
  return found
}

/** The processes still running `command` after up to ~10 s (a loaded machine reaps slowly). */
async function leftAfterWaiting(command: string): Promise<string[]> {
  let left = await processesRunning(command)
  for (let i = 0; i < 100 && left.length > 0; i++) {
    await sleep(100)
    left = await processesRunning(command)
  }
  return left
}

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 300 && !existsSync(path); i++) await sleep(100)
  expect(existsSync(path), `${path} (the signer started)`).toBe(true)
}

const stray: string[] = []

beforeAll(async () => {
  home = await tempHome()
  dir = home.dir
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await writeFile(join(dir, 'es.pem'), pem(es.privateKey, 'pkcs8'), { mode: 0o600 })
  await writeFile(join(dir, 'es.pub.pem'), pem(es.publicKey, 'spki'))
  env = { ...home.env, BKTX_CLIENT_ID: 'lifetime-client', BKTX_TOKEN_URL: 'https://bktx.invalid/oauth/token' }
}, 60_000)

afterAll(async () => {
  // Whatever a failed run left behind (these sleep for over an hour otherwise).
  for (const command of stray) for (const pid of await processesRunning(command)) process.kill(Number(pid), 'SIGKILL')
  await home?.cleanup()
})

describe('exec: signers end with the call that ran them', () => {
  it('a child the signer leaves running after printing its signature is gone when bktx returns', async () => {
    const m = marker()
    stray.push(`sleep ${m}`)
    const signer = await script('leaves-a-child.sh', `sleep ${m} &\nopenssl dgst -sha256 -sign "${dir}/es.pem"`)
    const result = await runBin(['sign', '--key', `exec:${signer}`, '--public-key', join(dir, 'es.pub.pem')], { env, timeoutMs: 60_000 })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout.split('.')).toHaveLength(3)
    expect(await leftAfterWaiting(`sleep ${m}`)).toEqual([])
  })

  async function signerOfAHungCall(name: string, detached: boolean) {
    const m = marker()
    stray.push(`sleep ${m}`)
    const started = join(dir, `${name}.started`)
    const signer = await script(`${name}.sh`, `sleep ${m} &\ntouch "${started}"\nsleep ${m}`)
    const child = spawn(process.execPath, [BIN, 'sign', '--timeout', '600s', '--key', `exec:${signer}`, '--public-key', join(dir, 'es.pub.pem')], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: 'ignore',
      detached,
    })
    const ended = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    // Generous: if nothing ends it, the test's own timer does; the assertions are outcomes.
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000)
    await waitFor(started)
    // The signer touches the file before its foreground sleep starts: on a loaded machine that
    // sleep can take a while to appear, so wait for both (up to 30 s) before asserting them.
    let running = await processesRunning(`sleep ${m}`)
    for (let i = 0; i < 300 && running.length < 2; i++) {
      await sleep(100)
      running = await processesRunning(`sleep ${m}`)
    }
    expect(running).toHaveLength(2)
    return { child, ended, killer, command: `sleep ${m}` }
  }

  for (const signal of ['SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const) {
    it(`bktx killed with ${signal} while the signer runs: the signer and its child are gone`, async () => {
      const { child, ended, killer, command } = await signerOfAHungCall(`hup-${signal}`, false)
      child.kill(signal)
      const outcome = await ended
      clearTimeout(killer)
      // bktx still dies of the signal (SIGQUIT: Node's default action, a core dump or not).
      expect(outcome.signal).toBe(signal)
      expect(await leftAfterWaiting(command)).toEqual([])
    })
  }

  // SIGTERM: what a CI runner sends the job's group when it cancels it; SIGHUP: the terminal
  // (or an ssh session) going away signals the foreground group.
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    it(`a ${signal} to bktx's process group reaches the signer`, async () => {
      const { child, ended, killer, command } = await signerOfAHungCall(`group-${signal}`, true)
      process.kill(-(child.pid as number), signal)
      await ended
      clearTimeout(killer)
      expect(await leftAfterWaiting(command)).toEqual([])
    })
  }
})
