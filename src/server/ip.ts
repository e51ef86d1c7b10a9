import { isIPv4, isIPv6 } from 'node:net'
import ipaddr from 'ipaddr.js'

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number]

/**
 * An IP allow-list of addresses and CIDR ranges (IPv4 and IPv6), judged on the socket's remote
 * address, never on a header a client controls. An empty list allows everyone (docs/token-exchange.md §1:
 * both lists are optional).
 */
export class IpAllowList {
  readonly #ranges: Range[]

  constructor(entries: readonly string[]) {
    this.#ranges = entries.map((entry): Range => {
      if (entry.includes('/')) {
        const [addr, bits] = ipaddr.parseCIDR(entry)
        return [normalise(addr), addr.kind() === 'ipv6' && normalise(addr).kind() === 'ipv4' ? bits - 96 : bits]
      }
      const addr = normalise(ipaddr.parse(entry))
      return [addr, addr.kind() === 'ipv4' ? 32 : 128]
    })
  }

  get empty(): boolean {
    return this.#ranges.length === 0
  }

  allows(remote: string | undefined): boolean {
    if (this.#ranges.length === 0) return true
    if (remote === undefined || !ipaddr.isValid(remote)) return false
    const addr = normalise(ipaddr.parse(remote))
    return this.#ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range as never, bits))
  }
}

/**
 * Why an allow-list entry is refused, or undefined for a good one. Only canonical spellings
 * (docs/token-exchange.md §1 [bktx]): dotted-decimal IPv4 without leading zeros (inet_aton and
 * ipaddr.js read `010` as octal and accept `127.1`, `0x7f.0.0.1` and `2130706433`, so one entry
 * could mean another address to a reader than to the server), IPv6 without a zone, and CIDR
 * ranges of those with a decimal prefix length.
 */
export function ipEntryProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const v4 = isIPv4(address)
  if (!v4 && !isIPv6(address)) {
    return /^[0-9.]+$|^0x/i.test(address)
      ? 'is not an IP address or CIDR range (IPv4 addresses are four decimal numbers without leading zeros)'
      : 'is not an IP address or CIDR range'
  }
  if (address.includes('%')) return 'is not an IP address or CIDR range (no IPv6 zone)'
  if (slash === -1) return undefined
  const bits = entry.slice(slash + 1)
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bits) || Number(bits) > (v4 ? 32 : 128)) return 'is not an IP address or CIDR range'
  return undefined
}

// ::ffff:127.0.0.2 (a dual-stack socket's view of an IPv4 client) is judged as 127.0.0.2.
function normalise(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr
}
