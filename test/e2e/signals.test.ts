import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MEMBER } from '../helpers/server.js'
import { BIN } from '../helpers/spawn.js'
import { spawnServer } from '../helpers/spawn-server.js'
import { startStubServer, type StubServer } from '../helpers/stub-token-server.js'
import { FIXTURE, listensOn, waitFor } from '../helpers/tmux.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// Signals sent to bktx processes from outside (a supervisor, `kill`): SIGUSR1 never opens
// Node's inspector, and an interrupted wait ends bktx by the signal that interrupted it.

const INSPECTOR_PORT = 9229

let world: TokenWorld
let hanging: StubServer
let env: Record<string, string>

beforeAll(async () => {
  world = await tokenWorld()
  hanging = await startStubServer(() => undefined)
  env = { PATH: process.env['PATH'] as string, ...world.env, BKTX_CACHE: 'file' }
})
afterAll(async () => {
  await hanging.close()
  await world.cleanup()
})

function start(
  args: string[],
  extra: Record<string, string> = {},
): { child: ChildProcess; stderr: () => string; exited: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return { child, stderr: () => stderr, exited }
}

/** Sends SIGUSR1 and checks that the process neither died nor started an inspector. */
async function noInspector(child: ChildProcess, stderr: () => string): Promise<void> {
  child.kill('SIGUSR1')
  // Node starts the inspector within milliseconds of the signal; allow it plenty of time.
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(child.exitCode).toBeNull()
  expect(child.signalCode).toBeNull()
  expect(stderr()).not.toMatch(/Debugger listening|inspector/i)
  if (process.platform === 'linux') expect(listensOn(child.pid as number, INSPECTOR_PORT)).toBe(false)
}

describe('SIGUSR1 never opens an inspector', () => {
  it('the check sees one: plain node with the same signal starts it (on a free port)', async () => {
    const node = spawn(process.execPath, ['--inspect-port=0', '-e', "console.error('ready'); setInterval(() => {}, 1000)"], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    node.stderr.on('data', (chunk) => (stderr += chunk))
    // Signalled only once it runs: before Node installs its handler, SIGUSR1 would kill it.
    await waitFor('node to start', () => /ready/.test(stderr))
    node.kill('SIGUSR1')
    await waitFor('the inspector', () => /Debugger listening/.test(stderr))
    node.kill('SIGKILL')
  })

  it('bktx server', async () => {
    const key = join(world.home.dir, 'server-key.pem')
    const server = await spawnServer(['--member', MEMBER, '--jwks', world.keyPath], { ...env, BKTX_KEY: key })
    await noInspector(server.child, server.stderr)
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  })

  it('bktx token waiting on the token endpoint', async () => {
    const run = start(['token', '--no-cache', '--timeout', '60s'], { BKTX_TOKEN_URL: `${hanging.origin}/oauth/token` })
    await waitFor('the exchange request', () => hanging.requests.length > 0)
    await noInspector(run.child, run.stderr)
    run.child.kill('SIGTERM')
    expect(await run.exited).toEqual({ code: null, signal: 'SIGTERM' })
  })

  it('bktx exec: passed on to the command once, and no inspector in bktx', async () => {
    const log = join(world.home.dir, 'usr1.log')
    const run = start(['exec', '--', process.execPath, FIXTURE('count-signals.mjs'), log])
    await waitFor('the command', () => existsSync(`${log}.ready`))
    await noInspector(run.child, run.stderr)
    expect(readFileSync(log, 'utf8')).toBe('SIGUSR1\n')
    run.child.kill('SIGTERM')
    // The command takes SIGTERM and goes on; stop it as the fixture says.
    await waitFor('SIGTERM at the command', () => readFileSync(log, 'utf8').includes('SIGTERM'))
    await import('node:fs/promises').then((fs) => fs.writeFile(`${log}.stop`, ''))
    expect(await run.exited).toEqual({ code: 0, signal: null })
  })
})

describe('an interrupted wait ends bktx by the interrupting signal', () => {
  it.each([['SIGINT'], ['SIGTERM']] as const)('%s during an exchange: death by it, nothing on stdout', async (signal) => {
    const before = hanging.requests.length
    const run = start(['token', '--no-cache', '--timeout', '60s'], { BKTX_TOKEN_URL: `${hanging.origin}/oauth/token` })
    let stdout = ''
    run.child.stdout?.on('data', (chunk) => (stdout += chunk))
    await waitFor('the exchange request', () => hanging.requests.length > before)
    run.child.kill(signal)
    expect(await run.exited).toEqual({ code: null, signal })
    expect(stdout).toBe('')
    expect(run.stderr()).toBe('error: interrupted while waiting for the token endpoint\n')
  })
})
