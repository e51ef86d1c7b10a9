import ipaddr from 'ipaddr.js'

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number]

/**
 * An IP allow-list of addresses and CIDR ranges (IPv4 and IPv6), judged on the socket's remote
 * address, never on a header a client controls. An empty list allows everyone (docs/buildkite-protocol.md §1:
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

// ::ffff:127.0.0.2 (a dual-stack socket's view of an IPv4 client) is judged as 127.0.0.2.
function normalise(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr
}
