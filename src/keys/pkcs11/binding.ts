// The PKCS#11 binding, pkcs11js (docs/dependencies.md): a native addon and an optional
// dependency, like the keyring binding. It is loaded with require only when a pkcs11: key has
// to sign or show its public key, never on a cache hit; where it cannot load (not built on
// this platform, no compiler at install time), the other key sources work as before.
import { createRequire } from 'node:module'
import { Pkcs11ModuleError } from '../../errors.js'

/** A PKCS#11 handle: the binding passes CK_ULONG handles as native-endian bytes. */
export type Handle = Buffer

export interface Attribute {
  type: number
  value?: number | boolean | string | Buffer | null
}

export interface TokenInfo {
  label: string
  manufacturerID: string
  model: string
  serialNumber: string
  flags: number
}

export interface SlotInfo {
  slotDescription: string
  manufacturerID: string
  flags: number
}

export interface ModuleInfo {
  manufacturerID: string
  libraryDescription: string
  libraryVersion: { major: number; minor: number }
}

/** The part of pkcs11js's PKCS11 class bktx calls (synchronous forms only). */
export interface Pkcs11Module {
  load(path: string): void
  close(): void
  C_Initialize(): void
  C_Finalize(): void
  C_GetInfo(): ModuleInfo
  C_GetSlotList(tokenPresent?: boolean): Handle[]
  C_GetSlotInfo(slot: Handle): SlotInfo
  C_GetTokenInfo(slot: Handle): TokenInfo
  C_OpenSession(slot: Handle, flags: number): Handle
  C_CloseSession(session: Handle): void
  C_Login(session: Handle, userType: number, pin?: string): void
  C_Logout(session: Handle): void
  C_FindObjectsInit(session: Handle, template: Attribute[]): void
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[]
  C_FindObjectsFinal(session: Handle): void
  C_GetAttributeValue(session: Handle, object: Handle, template: Attribute[]): Attribute[]
  C_SignInit(session: Handle, mechanism: { mechanism: number; parameter?: Buffer | null }, key: Handle): void
  C_Sign(session: Handle, inData: Buffer, outData: Buffer): Buffer
  C_GenerateKeyPair(
    session: Handle,
    mechanism: { mechanism: number },
    publicTemplate: Attribute[],
    privateTemplate: Attribute[],
  ): { publicKey: Handle; privateKey: Handle }
}

interface Binding {
  PKCS11: new () => Pkcs11Module
}

export const PKCS11_PACKAGE = 'pkcs11js'

/** For tests: load another package (or a missing one) in place of pkcs11js. */
export function loadBinding(name: string = PKCS11_PACKAGE): Binding {
  try {
    return createRequire(import.meta.url)(name) as Binding
  } catch (cause) {
    throw new Pkcs11ModuleError(`PKCS#11 support is not installed: the optional package ${name} did not load`, {
      cause,
      detail: { setting: 'key', reason: 'binding-missing' },
      advice: [
        `reinstall bktx where ${name} can build (it needs a C++ compiler, make and python3 at install time), or use a key file, an env: key or an exec: signer`,
      ],
    })
  }
}

/** Where the binding package's entry is, for loading it in a worker thread (./probe.ts). */
export function bindingPath(name: string = PKCS11_PACKAGE): string {
  return createRequire(import.meta.url).resolve(name)
}
