#!/usr/bin/env node
// Writes docs/security/figures.md (with --write; else prints its table) from a run of
// test/security and the last `npm run bench`:
//
//   BKTX_SECURITY_FIGURES=.security-figures BKTX_VITEST_JSON=.security-figures/vitest.json \
//     npx vitest run test/security && node scripts/security-figures.mjs .security-figures [bench/results.json] --write
//
// The page is generated, never edited by hand: its text is below, its figures come from the run.
// Each test file writes <name>.json into the directory (test/security/support.ts writeFigures);
// vitest.json, when present, gives the pass/fail counts. The tests assert no speeds: how fast
// the server answers under load, and how much heap it keeps, come from the benchmark's rows
// marked `security` (bench/load.mjs), with their targets.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// --note=TEXT: a sentence on the run's conditions (a loaded machine, a failure's cause).
const note = process.argv.find((arg) => arg.startsWith('--note='))?.slice('--note='.length)
const args = process.argv.slice(2).filter((arg) => arg !== '--write' && !arg.startsWith('--note='))
const write = process.argv.includes('--write')
const dir = args[0] ?? '.security-figures'
const benchPath = args[1] ?? fileURLToPath(new URL('../bench/results.json', import.meta.url))
const PAGE = fileURLToPath(new URL('../docs/security/figures.md', import.meta.url))
const read = (name) => {
  const path = join(dir, `${name}.json`)
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined
}
const corpus = read('corpus') ?? {}
const fuzz = read('fuzz') ?? {}
const live = read('live-server') ?? {}
const crash = read('crash') ?? {}
const load = read('load') ?? {}
const faults = read('client-faults') ?? {}
const tokenCrash = read('token-crash') ?? {}
const trust = read('trust') ?? {}
const hostile = read('client-hostile') ?? {}
const vitest = read('vitest')
const bench = existsSync(benchPath) ? JSON.parse(readFileSync(benchPath, 'utf8')) : undefined

const n = (value) => (typeof value === 'number' ? value.toLocaleString('en-GB') : '?')
const rows = []
rows.push(['attack corpus: cases (classes), requests sent', `${n(corpus.cases)} (${n(corpus.classes)}), ${n(corpus.requests)}`])
rows.push([
  'attack corpus: cases naming another host (jku, x5u, kid URL, redirect); requests that reached it',
  `${n(corpus.pointing_elsewhere)}; ${n(corpus.canary_hits)}`,
])
rows.push(['fuzzing: properties, runs, slowest run', `${n(fuzz.properties)}, ${n(fuzz.runs)}, ${n(fuzz.slowest_run_ms)} ms`])
rows.push(['live-server fuzzing: requests via node:http, raw-socket requests', `${n(live.requests)}, ${n(live.raw_requests)}`])
rows.push(['oversized bodies and headers; slow clients cut off', `${n(live.oversized)}; ${n(live.slow_clients)}`])
rows.push([
  'slow clients: latest cut-off by the header timeout, by the request timeout (Node checks them every 500 ms); a valid exchange among them',
  `${n(live.slowest_headers_cut_off_ms)} ms (timeout ${n(live.headers_timeout_ms)} ms), ${n(live.slowest_request_cut_off_ms)} ms (timeout ${n(live.request_timeout_ms)} ms); ${n(live.valid_exchange_among_slow_clients_ms)} ms`,
])
if (live.statuses)
  rows.push([
    'live-server answers by status',
    Object.entries(live.statuses)
      .map(([s, c]) => `${s}: ${n(c)}`)
      .join(', '),
  ])
rows.push([
  'faults injected: kill -9 of bktx server (under load + during start-up), of bktx keygen (of which the instant its temporary file appeared)',
  `${n((crash.server_kills ?? 0) + (crash.startup_kills ?? 0))} (${n(crash.server_kills)} + ${n(crash.startup_kills)}), ${n(crash.keygen_kills)} (${n(crash.keygen_kills_mid_write)})`,
])
rows.push([
  'exchanges sent across the server kills; tokens acknowledged and verified after each restart',
  `${n(crash.exchanges_sent)}; ${n(crash.tokens_acknowledged)}`,
])
if (crash.keygen_outcomes)
  rows.push([
    'what the keygen kills left',
    Object.entries(crash.keygen_outcomes)
      .map(([o, c]) => `${o}: ${n(c)}`)
      .join(', '),
  ])
const counts = (map) =>
  Object.entries(map ?? {})
    .map(([k, c]) => `${k}: ${n(c)}`)
    .join(', ')
rows.push([
  'client faults: cases (runs of bktx token, cold and warm); requests the stub endpoints received',
  `${n(faults.fault_cases)} (${n(faults.runs)}); ${n(faults.requests)}`,
])
rows.push(['client faults: runs by exit code', counts(faults.exit_codes)])
rows.push([
  'client faults: slowest run (in-process, or the binary with start-up); latest end of a hanging run (the binary, --timeout 1s) counted from the first request, relative to --timeout',
  `${n(faults.slowest_run_ms)} ms; ${faults.worst_overshoot_ms > 0 ? '+' : ''}${n(faults.worst_overshoot_ms)} ms`,
])
rows.push(['cached tokens past their time (expired, inside --min-ttl, dated ahead) asked for with the server down', n(faults.expired_cases)])
const moments = tokenCrash.token_kills_by_moment ?? {}
const sum = (map) => Object.values(map ?? {}).reduce((a, b) => a + b, 0)
rows.push([
  'faults injected: kill -9 of bktx token while it writes the cache: cold calls, --refresh calls (by moment)',
  `${n(sum(moments.cold))}, ${n(sum(moments.refresh))} (cold: ${counts(moments.cold)}; --refresh: ${counts(moments.refresh)})`,
])
if (tokenCrash.token_kill_leftovers) rows.push(['what the bktx token kills left (one kill can leave several)', counts(tokenCrash.token_kill_leftovers)])
rows.push([
  'the next bktx token in each killed home: served the complete entry left, minted anew; slowest (the lock of a killed call is taken over at once)',
  `${n(tokenCrash.follow_ups_served_from_cache)}, ${n((tokenCrash.follow_ups ?? 0) - (tokenCrash.follow_ups_served_from_cache ?? 0))}; ${n(tokenCrash.slowest_follow_up_ms)} ms`,
])
rows.push([
  'callers waiting on a lock whose holder was killed; mints by the number waiting; torn entries planted (none served)',
  `${n(tokenCrash.waiters_after_holder_kill)}; ${counts(tokenCrash.mints_after_holder_kill)}; ${n(tokenCrash.torn_entries)}`,
])
rows.push([
  'second round (trust.test.ts): cases; server starts refused (state directory foreign, loose, symlinked, locked or damaged; bad flags)',
  `${n(trust.cases)}; ${n(trust.refused_starts)}`,
])
rows.push([
  'JWKS URIs answering 500, 404, garbage, keys not an array, or 503 after a good fetch: exchanges sent, fetches made',
  `${n(trust.jwks_requests)}, ${n(trust.jwks_fetches)}`,
])
rows.push(['tokens re-checked after a restart with a changed configuration', n(trust.rechecked_tokens)])
rows.push([
  'aborted uploads; requests among them the server saw before the reset; their log lines (one each, none "internal error"); heap growth over them',
  `${n(trust.aborted_uploads)}; ${n(trust.aborted_requests_seen)}; ${n(trust.aborted_log_lines)}; ${trust.aborted_heap_growth_bytes === undefined ? '?' : `${(trust.aborted_heap_growth_bytes / 1024 / 1024).toFixed(1)} MiB`}`,
])
if (trust.skipped_not_root) rows.push(['tests needing root skipped (not root)', 'yes: the figures are partial'])
rows.push([
  'hostile surroundings: proxy and connection cases; connections per run (by case)',
  `${n(hostile.proxy_cases)}; ${counts(hostile.proxy_connections)}`,
])
rows.push([
  'runs against loopback with HTTP_PROXY and HTTPS_PROXY set; connections the proxy received',
  `${n(hostile.loopback_runs_with_proxy)}; ${n(hostile.loopback_requests_proxied)}`,
])
rows.push([
  'FIFO, /dev/zero and endless-stdin inputs refused; slowest run; peak RSS of a refusing run (of a plain `bktx config list`)',
  `${n(hostile.special_input_cases)}; ${n(hostile.special_input_slowest_ms)} ms; ${n(hostile.special_input_peak_rss_mib)} MiB (${n(hostile.baseline_peak_rss_mib)} MiB)`,
])
rows.push(['mismatched or malformed private JWKs, runs refusing them (exit 3)', `${n(hostile.key_cases)}, ${n(hostile.key_runs)}`])
rows.push([
  'hostile endpoint cases (escapes, C1 in Date, 250,000-year lifetimes); inspect --jwks URL failure cases',
  `${n(hostile.hostile_server_cases)}; ${n(hostile.jwks_url_cases)}`,
])
rows.push(['squatted /dev/shm/bktx-<uid> cases (run as another uid)', hostile.squat_skipped ? 'skipped (not root)' : n(hostile.squat_cases)])
rows.push([
  'requests under load (valid, invalid); errors; timeouts',
  `${n(load.requests)} (${n(load.valid)}, ${n(load.invalid)}); ${n(load.errors)}; ${n(load.timeouts)}`,
])
for (const run of load.runs ?? []) rows.push([`load: ${run.name}`, `${n(run.requests)} requests (${counts(run.statuses)}), errors ${n(run.errors)}`])
const benchRows = (bench?.rows ?? []).filter((row) => row.security)
if (benchRows.length > 0) rows.push(['npm run bench: the run', `${bench.date.slice(0, 10)}, Node ${bench.node.replace(/^v/, '')}, ${bench.cores} cores`])
for (const row of benchRows)
  rows.push([`npm run bench: ${row.name}`, row.target === '' ? row.value : `${row.value}; target ${row.target}: ${row.ok ? 'met' : 'missed'}`])
if (vitest) {
  const results = (vitest.testResults ?? []).filter((r) => r.name.includes('test/security/'))
  const all = results.flatMap((r) => r.assertionResults ?? [])
  const count = (status) => all.filter((a) => a.status === status).length
  const seconds = results.reduce((sum, r) => sum + ((r.endTime ?? 0) - (r.startTime ?? 0)), 0) / 1000
  rows.push(['tests passed, failed, skipped', `${n(count('passed'))}, ${n(count('failed'))}, ${n(count('pending') + count('skipped') + count('todo'))}`])
  rows.push(['test time summed over the files (they run two at a time)', `${seconds.toFixed(1)} s`])
}

const table = ['| figure | last run |', '| --- | --- |', ...rows.map(([name, value]) => `| ${name} | ${value} |`)].join('\n')
if (!write) console.log(table)
else {
  const root = (process.getuid?.() ?? 0) === 0 ? 'as root' : 'not as root (the tests that need root were skipped)'
  const page = `# Figures of the last run of the security tests

<!-- Generated by scripts/security-figures.mjs: do not edit; run it again. -->

What the last run of \`test/security\` did, counted by the tests themselves, and the server's
speed and heap under abuse from the last \`npm run bench\` (the rows marked \`npm run bench\`,
read from \`bench/results.json\`; the tests assert no speeds). [SECURITY.md](../../SECURITY.md)
says what these tests defend; [the threat model](threat-model.md) names each case.

To generate this page again (the crash, client-fault, token-crash and client-hostile tests run
the built binary; run as root for the tests that give files to other users):

<!-- not-runnable: runs the whole security suite (minutes, hundreds of processes); this page is its output -->
\`\`\`sh
npm run build
dir=$(mktemp -d)
BKTX_SECURITY_FIGURES=$dir BKTX_VITEST_JSON=$dir/vitest.json npx vitest run test/security
node scripts/security-figures.mjs "$dir" --write
\`\`\`

\`BKTX_FUZZ_RUNS=20\` multiplies every fuzz run count for a deeper local run; \`BKTX_FUZZ_SEED\`
replays a reported failure. The load tests count what was answered, not how fast. The
benchmark runs the server and autocannon in one process, for 5 s per run: valid exchanges
from 25 connections alone, then beside 50 connections of garbage; and 3,000 requests at a
store cap of 500, measuring the heap after a forced collection before and after. Fair share is
the valid side's part of all completions against 25 of 75 connections.

Generated ${new Date().toISOString().slice(0, 10)}, Node ${process.version.replace(/^v/, '')}, ${cpus().length} cores, ${root}.${note === undefined ? '' : ` ${note}`}

${table}
`
  writeFileSync(`${PAGE}.tmp`, page)
  renameSync(`${PAGE}.tmp`, PAGE)
  console.error(`wrote ${PAGE}`)
}
