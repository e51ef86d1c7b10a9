// The young generation of `bktx server`'s process, kept small while it serves. Used by the CLI's
// server command only (through src/process-deps.ts): V8's flags belong to the whole process, so
// the library's createTokenServer, which runs inside other people's processes, never sets them.
//
// Why: V8 starts the new space with 1 MiB semi-spaces and doubles them, up to 16 MiB in Node 20
// and 22 (more in 24), as objects keep surviving its scavenges, which a server's requests in
// flight and its stored tokens do. Each doubling commits memory the process never touched, inside
// a scavenge: under the benchmark's load (bench/server.mjs) the steps to 8 and to 16 MiB each
// stopped the server for 9 to 11 ms (--trace-gc-nvp: a scavenge of 1 to 2 ms, the rest V8's
// SemiSpace::GrowTo and the first touches of the new pages), and every request in flight, 50 of
// them, waited that long. With 2 MiB semi-spaces the scavenges come more often and none grows
// anything: the slowest 1% of answers came 3 to 5 ms sooner (docs/benchmarks.md, ninth run).
//
// V8 sizes the semi-spaces' maximum when it starts (--max-semi-space-size, a command-line flag,
// which also makes V8 reject the code cache Node embeds for its own modules), but it reads its
// growth factor at each growth: 1 once the semi-spaces have reached the bound, V8's 2 again below
// it (after a quiet spell V8 may shrink them), and they stay at the first size at or above the
// bound that V8's growth gives (2 MiB in Node 20 and 22; 2 or 3 MiB in 24, whose V8 grows in
// smaller steps).
import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'

/** V8's own growth factor (the default of --semi-space-growth-factor in Node 20, 22 and 24). */
const V8_GROWTH_FACTOR = 2

/**
 * Stops the growth of the semi-spaces at `maxBytes` each from now on, checked after each
 * collection; returns what undoes it. The undo puts V8's default back, so a V8 code cache made
 * afterwards (bin/bktx.js writes one at exit) records the flags every run starts with: V8 rejects
 * a cache made under other flags. `userFlags`, the process's command-line flags and NODE_OPTIONS:
 * when they size the young generation themselves (`semi-space` in a flag), nothing is changed.
 */
export function boundYoungGeneration(maxBytes: number, userFlags: readonly string[]): () => void {
  if (userFlags.some((flag) => /semi[-_]space/.test(flag))) return () => {}
  let bounded = false
  const check = (): void => {
    // The capacity V8 reports leaves out the pages' headers (2,013 KiB of a 2 MiB semi-space).
    const reached = semiSpaceBytes() >= maxBytes * 0.9
    if (reached === bounded) return
    bounded = reached
    setFlagsFromString(`--semi-space-growth-factor=${reached ? 1 : V8_GROWTH_FACTOR}`)
  }
  const observer = new PerformanceObserver(check)
  observer.observe({ entryTypes: ['gc'] })
  check()
  return () => {
    observer.disconnect()
    if (bounded) setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`)
    bounded = false
  }
}

/**
 * The capacity of one semi-space: what the new space holds plus what it has free. Not its
 * `space_size`, the memory committed to both semi-spaces, which halves while V8 leaves the idle
 * one uncommitted after a full collection, the capacity unchanged.
 */
export function semiSpaceBytes(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')
  return space === undefined ? 0 : space.space_used_size + space.space_available_size
}
