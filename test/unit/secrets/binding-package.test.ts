// The keyring binding is required straight from its prebuilt package on glibc Linux (about
// 1 ms of each keychain cache hit less than the package's own loader; docs/benchmarks.md).
// The name must be the one that loader would pick, or every hit silently pays the fallback.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { glibcLinuxPackage } from '../../../src/secrets/keyring.js'

const require = createRequire(import.meta.url)

describe('glibcLinuxPackage', () => {
  it('names no package off Linux or on an architecture without a known musl loader name', () => {
    expect(glibcLinuxPackage('darwin', 'arm64')).toBeUndefined()
    expect(glibcLinuxPackage('win32', 'x64')).toBeUndefined()
    expect(glibcLinuxPackage('linux', 'riscv64')).toBeUndefined()
    expect(glibcLinuxPackage('linux', undefined)).toBeUndefined()
  })

  const glibc = process.platform === 'linux' && process.arch === 'x64' && !existsSync('/lib/ld-musl-x86_64.so.1')
  it.runIf(glibc)('names the installed prebuilt package, which is the binding the loader itself returns', () => {
    const name = glibcLinuxPackage('linux', 'x64')
    expect(name).toBe('@napi-rs/keyring-linux-x64-gnu')
    const direct = createRequire(require.resolve('@napi-rs/keyring'))(name as string)
    expect(direct).toBe(require('@napi-rs/keyring'))
    expect(typeof direct.AsyncEntry).toBe('function')
  })
})
