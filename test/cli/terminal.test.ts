import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defaultShell, shellKindOf } from '../../src/cli/commands/env.js'
import { signalOutcome } from '../../src/cli/exit-codes.js'
import { MIN_SPINNER_COLUMNS, Output, saneWidth, type SpinnerStream } from '../../src/cli/output.js'
import type { FetchLike } from '../../src/deps.js'
import { KeychainError } from '../../src/errors.js'
import { MemorySecretStore } from '../../src/secrets/store.js'
import { fakeSignals, runCli } from '../helpers/cli.js'
import { FIXTURE, waitFor } from '../helpers/tmux.js'

/** `fetch`, with a promise that resolves once bktx calls it: the run is then in the exchange. */
function announcing(fetch: FetchLike): { fetching: Promise<void>; fetch: FetchLike } {
  let called: () => void = () => undefined
  const fetching = new Promise<void>((resolve) => (called = resolve))
  return {
    fetching,
    fetch: (input, init) => {
      called()
      return fetch(input, init)
    },
  }
}
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

/** This process's id and liveness check, for the fields a test does not set. */
const TEST_PROCESS = { pid: process.pid, isAlive: () => true }

// In-process checks of the decisions behind the terminal tests (test/e2e/terminal.test.ts):
// how an interrupted run ends, when a spinner may draw, what --quiet drops, which shell
// syntax env picks, and when exec passes a signal on.

let world: TokenWorld
beforeEach(async () => {
  world = await tokenWorld()
})
afterEach(() => world.cleanup())

describe('how a run ends', () => {
  it('maps signals to 128 + N, re-raised unless the signal would dump core', () => {
    expect(signalOutcome('SIGINT')).toEqual({ code: 130, signal: 'SIGINT' })
    expect(signalOutcome('SIGTERM')).toEqual({ code: 143, signal: 'SIGTERM' })
    expect(signalOutcome('SIGPIPE')).toEqual({ code: 141, signal: 'SIGPIPE' })
    expect(signalOutcome('SIGQUIT')).toEqual({ code: 131 })
    expect(signalOutcome('SIGSEGV')).toEqual({ code: 139 })
  })

  it.each([
    [
      'a request that honours the abort',
      ((_url, init) => new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as FetchLike,
    ],
    // A wait nothing can cancel (a keychain call in native code): bktx stops waiting for it.
    ['a wait that ignores it', (() => new Promise(() => undefined)) as FetchLike],
  ])('SIGINT during an exchange ends the run by SIGINT, with %s', async (_name, fetch) => {
    const signals = fakeSignals()
    // Nothing but the SIGINT can end this run (the fetch never settles by itself): the test's
    // own timeout is the kill timer. How promptly a real Ctrl-C ends bktx: e2e/terminal.test.ts.
    const { fetching, fetch: counted } = announcing(fetch)
    const run = runCli(['token', '--no-cache'], { env: world.env, signals, fetch: counted })
    await fetching
    signals.emit('SIGINT')
    const result = await run
    expect(result).toMatchObject({ code: 130, signal: 'SIGINT', stdout: '' })
    expect(result.stderr).toMatch(/^error: interrupted/)
  })

  it('SIGTERM ends it by SIGTERM', async () => {
    const signals = fakeSignals()
    const { fetching, fetch } = announcing(() => new Promise(() => undefined))
    const run = runCli(['token', '--no-cache'], { env: world.env, signals, fetch })
    await fetching
    signals.emit('SIGTERM')
    expect(await run).toMatchObject({ code: 143, signal: 'SIGTERM', stdout: '' })
  })
})

describe('spinners', () => {
  type FakeTerminal = SpinnerStream & PassThrough & { written: string; columns: number | undefined }
  /** A stream that says it is a terminal of `columns` (ora also moves the cursor on it). */
  function terminal(columns: number | undefined): FakeTerminal {
    const moved = (...args: unknown[]) => {
      const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined
      callback?.()
      return true
    }
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns, written: '', cursorTo: moved, moveCursor: moved, clearLine: moved })
    stream.on('data', (chunk: Buffer) => (stream.written += chunk.toString()))
    return stream as unknown as FakeTerminal
  }
  const output = (stream: SpinnerStream, options: { quiet?: boolean } = {}) =>
    new Output(
      { write: () => undefined, isTTY: false },
      { write: () => undefined, isTTY: true },
      { json: false, verbose: false, color: false, env: {}, spinnerStream: stream, ...options },
    )
  // ora draws nothing where CI is set, whatever the stream: these tests are about bktx's choice.
  beforeEach(() => void vi.stubEnv('CI', undefined))
  afterEach(() => void vi.unstubAllEnvs())

  it('draw only on a terminal at least MIN_SPINNER_COLUMNS wide', async () => {
    expect([0, 1, MIN_SPINNER_COLUMNS - 1, Number.NaN, Number.POSITIVE_INFINITY, undefined].map(saneWidth)).toEqual([false, false, false, false, false, false])
    expect([MIN_SPINNER_COLUMNS, 80].map(saneWidth)).toEqual([true, true])
    for (const columns of [0, 1, 19, undefined]) {
      const stream = terminal(columns)
      expect(await output(stream).spin('working', async () => 'done')).toBe('done')
      expect(stream.written, String(columns)).toBe('')
    }
    const wide = terminal(80)
    await output(wide).spin('working', () => new Promise((resolve) => setTimeout(resolve, 200)))
    expect(wide.written).toContain('working')
  })

  it('stop for good when the terminal is resized below that width', async () => {
    const stream = terminal(80)
    let written = 0
    await output(stream).spin('working', async () => {
      await new Promise((resolve) => setTimeout(resolve, 150))
      // 1, not 0: without the stop, ora would loop forever on 0 and the test hang instead of failing.
      stream.columns = 1
      stream.emit('resize')
      written = stream.written.length
      await new Promise((resolve) => setTimeout(resolve, 300))
    })
    expect(written).toBeGreaterThan(0)
    expect(stream.written.length).toBe(written)
  })

  it('are not drawn with --quiet', async () => {
    const stream = terminal(80)
    await output(stream, { quiet: true }).spin('working', () => new Promise((resolve) => setTimeout(resolve, 200)))
    expect(stream.written).toBe('')
  })
})

describe('--quiet and BKTX_QUIET', () => {
  const locked = () => Object.assign(new MemorySecretStore(), { fail: new KeychainError('the Secret Service collection is locked') })

  it('drop notes and warnings, keep errors and the usage line', async () => {
    const { BKTX_CACHE: _none, ...env } = { ...world.env, BKTX_CACHE: undefined }
    const noisy = await runCli(['token'], { env, secrets: locked() })
    expect(noisy.stderr).toMatch(/^warning: no keychain \(.*\): caching tokens in /)
    for (const [args, extra] of [
      [['--quiet', 'token'], {}],
      [['token', '-q'], {}],
      [['token'], { BKTX_QUIET: '1' }],
      [['token'], { BKTX_QUIET: 'yes' }],
    ] as const) {
      const quiet = await runCli([...args], { env: { ...env, ...extra }, secrets: locked() })
      expect(quiet, JSON.stringify(args)).toMatchObject({ code: 0, stderr: '', stdout: noisy.stdout })
    }
    const failed = await runCli(['-q', 'token', '--org', 'BAD'], { env })
    expect(failed.code).toBe(2)
    expect(failed.stderr).toMatch(/^error: --org: must be an organisation slug/)
    const usage = await runCli(['-q', 'config', 'get'], { env })
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/Usage: bktx config get/)
    const keygen = await runCli(['keygen', '--quiet', '--out', join(world.home.dir, 'quiet.pem')], { env })
    expect(keygen).toMatchObject({ code: 0, stderr: '' })
    expect(keygen.stdout).toMatch(/"keys"/)
  })
})

describe('--quiet on a server', () => {
  it('keeps its address and request log: they are what it produces, not notes', async () => {
    const signals = fakeSignals()
    let url = ''
    let ready: () => void = () => undefined
    const listening = new Promise<void>((resolve) => (ready = resolve))
    const serving = runCli(['--quiet', 'jwks', 'serve', '--port', '0', '--key', world.keyPath], {
      env: world.env,
      signals,
      onStderr: (chunk) => {
        const match = /serving JWKS at (\S+)/.exec(chunk)
        if (match?.[1] !== undefined) {
          url = match[1]
          ready()
        }
      },
    })
    await listening
    expect((await fetch(url)).status).toBe(200)
    signals.emit('SIGTERM')
    const result = await serving
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/^serving JWKS at .*\nGET \/\.well-known\/jwks\.json 200 \d+ms 127\.0\.0\.1\n$/)
  })
})

describe('bktx env without --shell', () => {
  it('names a shell by its command name, login shells and paths included', () => {
    expect(['bash', '-bash', '/usr/bin/zsh', 'fish', 'dash', 'ksh93', 'busybox', 'pwsh', 'powershell.exe', 'cmd.exe'].map(shellKindOf)).toEqual([
      'bash',
      'bash',
      'zsh',
      'fish',
      'sh',
      'sh',
      'sh',
      'powershell',
      'powershell',
      'cmd',
    ])
    expect(['node', 'sudo', 'npm exec', 'tmux', ''].map(shellKindOf)).toEqual([undefined, undefined, undefined, undefined, undefined])
  })

  it('follows the parent shell, then $SHELL, then sh', () => {
    expect(defaultShell('bash', '/usr/bin/fish')).toBe('bash')
    expect(defaultShell('fish', '/bin/bash')).toBe('fish')
    expect(defaultShell('node', '/usr/bin/fish')).toBe('fish')
    expect(defaultShell(undefined, '/usr/bin/fish')).toBe('fish')
    expect(defaultShell(undefined, undefined)).toBe('sh')
    expect(defaultShell('sudo', '/usr/local/bin/elvish')).toBe('sh')
  })

  it('asks the injected process information, and --shell wins over it', async () => {
    const processInfo = { ...TEST_PROCESS, parentName: () => 'fish', inForeground: () => false }
    expect((await runCli(['env', '--cache', 'file'], { env: { ...world.env, SHELL: '/bin/bash' }, processInfo })).stdout).toMatch(/^set -gx /)
    expect((await runCli(['env', '--cache', 'file', '--shell', 'sh'], { env: world.env, processInfo })).stdout).toMatch(/^export /)
  })
})

describe('bktx exec passes signals on', () => {
  async function run(
    inForeground: boolean,
    send: readonly ('SIGINT' | 'SIGQUIT' | 'SIGTERM' | 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2')[],
    expected: number,
  ): Promise<string[]> {
    const signals = fakeSignals()
    const log = join(world.home.dir, `signals-${inForeground}.log`)
    const done = runCli(['exec', '--cache', 'file', '--', process.execPath, FIXTURE('count-signals.mjs'), log], {
      env: { ...world.env, PATH: process.env['PATH'] },
      signals,
      processInfo: { ...TEST_PROCESS, parentName: () => undefined, inForeground: () => inForeground },
    })
    await waitFor('the command', () => existsSync(`${log}.ready`))
    for (const signal of send) signals.emit(signal)
    // Those expected first (however long a loaded machine takes), then time for any extra one.
    await waitFor(`${expected} signals`, () => readFileSync(log, 'utf8').split('\n').filter(Boolean).length >= expected)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await writeFile(`${log}.stop`, '')
    expect((await done).code).toBe(0)
    return readFileSync(log, 'utf8').split('\n').filter(Boolean)
  }

  it("in the terminal's foreground group: not SIGINT or SIGQUIT (the terminal sent them to the command too), the others", async () => {
    expect((await run(true, ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'], 4)).sort()).toEqual(['SIGHUP', 'SIGTERM', 'SIGUSR1', 'SIGUSR2'])
  })

  it('elsewhere: all of them', async () => {
    // Signals pending together are delivered in signal-number order, not in the order sent.
    expect((await run(false, ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'], 6)).sort()).toEqual([
      'SIGHUP',
      'SIGINT',
      'SIGQUIT',
      'SIGTERM',
      'SIGUSR1',
      'SIGUSR2',
    ])
  })
})
