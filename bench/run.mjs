// npm run bench: builds bktx, runs every benchmark, prints a table of figures next to their
// targets and writes bench/results.json. Ratios, not absolute times: machines differ.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchServer } from './server.mjs'

const tmp = mkdtempSync(join(tmpdir(), 'bktx-bench-'))
const rows = []
const row = (name, value, target, ok) => rows.push({ name, value, target, ok })

try {
  process.stderr.write('server throughput (50 connections)...\n')
  const server = await benchServer(tmp)
  const ratio = server.bktx.rps / server.crypto.rps
  row('server: exchanges/s', `${server.bktx.rps}/s (errors ${server.bktx.errors}, non-2xx ${server.bktx.non2xx})`, 'zero errors', server.bktx.errors === 0 && server.bktx.non2xx === 0)
  row('server: trivial node:http floor', `${server.trivial.rps}/s`, '', undefined)
  row('server: crypto floor (jose ES256 verify)', `${server.crypto.rps}/s`, '', undefined)
  row('server / crypto floor', `${ratio.toFixed(2)}x`, '>= 0.70x', ratio >= 0.7)
  row('server: p50 / p99 latency', `${server.bktx.p50} ms / ${server.bktx.p99} ms`, 'p99 < 25 ms', server.bktx.p99 < 25)
  row('server: peak RSS', `${server.bktx.peakRssMiB} MiB`, '', undefined)

  const w = [Math.max(...rows.map((r) => r.name.length)), Math.max(...rows.map((r) => r.value.length)), Math.max(...rows.map((r) => r.target.length))]
  const lines = [`bktx benchmarks on ${cpus().length} cores, node ${process.version}`, '']
  for (const r of rows) lines.push(`${r.name.padEnd(w[0])}  ${r.value.padEnd(w[1])}  ${r.target.padEnd(w[2])}  ${r.ok === undefined ? '' : r.ok ? 'met' : 'MISSED'}`)
  process.stdout.write(`${lines.join('\n')}\n`)
  writeFileSync(new URL('results.json', import.meta.url), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, rows, raw: { server } }, null, 2)}\n`)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
