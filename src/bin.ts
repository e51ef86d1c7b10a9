import { setFlagsFromString } from 'node:v8'
import { main } from './main.js'
import { processDeps } from './process-deps.js'
import { HANDOVER, type TokenHandover } from './token/handover.js'

// The entry of the full CLI (bin/bktx.js imports it unless dist/fast-token.cjs served a
// cached token or dist/fast-mint.cjs minted one). With src/fast/ the only modules that touch
// `process` (through src/process-deps.ts and src/term/process.ts for what they share): it
// builds the real dependencies once and ends the process as main() says. Everything else
// receives them.

// After its first HTTP request through undici Node waits 150-250 ms at exit while V8 tiers up
// the llhttp WebAssembly parser; the baseline compiler alone is plenty for a CLI
// (docs/dependencies.md). Run by bin/bktx.js (dist/cli.cjs), the flag is set only before undici
// loads (a proxy, --ca-file: scripts/build.mjs), through the function bin/bktx.js leaves here:
// any V8 flag set makes V8 reject the code cache Node embeds for its own modules, which every
// command would then compile from their source. Run otherwise (dist/bin.js, the standalone
// executable), it is set as this starts.
if (typeof (globalThis as Record<symbol, unknown>)[Symbol.for('bktx.liftoff-only')] !== 'function') setFlagsFromString('--liftoff-only')

// What the fast path resolved before a cache miss sent the run here (src/fast/main.ts): taken
// once, and used by the token commands only for the very input it was resolved from.
const handover = (globalThis as Record<symbol, unknown>)[HANDOVER] as TokenHandover | undefined
delete (globalThis as Record<symbol, unknown>)[HANDOVER]

const run = processDeps(handover)
run.end(await main(process.argv.slice(2), run.deps))
