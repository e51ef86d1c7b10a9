// npm run bench: builds bktx, runs every benchmark, prints a table of figures next to their
// targets and writes bench/results.json. Ratios, not absolute times: machines differ.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { benchLoad } from './load.mjs'
import { benchServer } from './server.mjs'
import { benchTokens } from './token.mjs'

// The keychain figures need a Secret Service: without a session bus, rerun this script inside
// a private one with an unlocked gnome-keyring when the tools are installed (.ci/run installs them).
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
if (!process.env.DBUS_SESSION_BUS_ADDRESS && !process.env.BKTX_BENCH_NO_DBUS && has('dbus-run-session') && has('gnome-keyring-daemon')) {
  const dataHome = mkdtempSync(join(tmpdir(), 'bktx-bench-keyring-'))
  const inner = spawnSync(
    'dbus-run-session',
    [
      '--',
      'sh',
      '-c',
      `echo -n bench | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "${process.execPath}" "${new URL(import.meta.url).pathname}"`,
    ],
    {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, XDG_DATA_HOME: dataHome, BKTX_BENCH_NO_DBUS: '1' },
      encoding: 'utf8',
    },
  )
  // dbus-daemon's harmless "Failed to set fd limit" line is dropped; the rest is shown.
  process.stderr.write(
    (inner.stderr ?? '')
      .split('\n')
      .filter((l) => !l.includes('fd limit'))
      .join('\n'),
  )
  rmSync(dataHome, { recursive: true, force: true })
  process.exit(inner.status ?? 1)
}

const tmp = mkdtempSync(join(tmpdir(), 'bktx-bench-'))
const SEA = new URL(`../dist/bin/bktx-${process.platform}-${process.arch}`, import.meta.url).pathname
// The machine may be shared: its load at the start and end goes with the figures.
const loadStart = loadavg()
const rows = []
// `security` marks the rows docs/security/figures.md shows too (scripts/security-figures.mjs picks them up).
const row = (name, value, target, ok, security = false) => rows.push({ name, value, target, ok, ...(security ? { security } : {}) })

try {
  process.stderr.write('bktx token: cached, uncached, single flight...\n')
  const tokens = await benchTokens(tmp)
  const ms = (v) => `${v.toFixed(1)} ms`
  // Each target against `node -e 0` of the same round-robin set: headline without
  // NODE_EXTRA_CA_CERTS, then the same set with it when this machine sets it.
  const targets = [
    ['token, cached (file)', 'cachedFile', 1.1],
    ['env, cached (file)', 'env', 1.25],
    ['--version', 'version', 1.25],
    ['help', 'help', 1.25],
    ['complete (one TAB)', 'complete', 1.25],
    ['status (no network)', 'status', 1.5],
    ['token, uncached (full exchange)', 'uncached', 2.0],
  ]
  for (const [label, setName] of [
    ['', 'bare'],
    ['with NODE_EXTRA_CA_CERTS: ', 'withExtraCa'],
  ]) {
    const figures = tokens[setName]
    if (figures === undefined) continue
    const headline = setName === 'bare'
    row(`${label}node -e 0`, ms(figures.node), '', undefined)
    for (const [name, key, target] of targets) {
      const r = figures[key] / figures.node
      row(`${label}${name}`, `${ms(figures[key])} = ${r.toFixed(2)}x node`, `<= ${target.toFixed(2)}x`, headline ? r <= target : undefined)
    }
    if (figures.seaCached !== undefined) {
      const size = statSync(SEA).size / 2 ** 20
      row(
        `${label}standalone executable (${size.toFixed(0)} MiB): token cached / --version`,
        `${ms(figures.seaCached)} = ${(figures.seaCached / figures.cachedFile).toFixed(2)}x the Node launcher's hit; ${ms(figures.seaVersion)} = ${(figures.seaVersion / figures.version).toFixed(2)}x its --version`,
        '',
        undefined,
      )
    } else if (headline) {
      row('standalone executable', 'n/a: not built (npm run build:binary)', '', undefined)
    }
    if (figures.cachedPkcs11 !== undefined) {
      const r = figures.cachedPkcs11 / figures.cachedFile
      row(
        `${label}token, cached (PKCS#11 key)`,
        `${ms(figures.cachedPkcs11)} = ${(figures.cachedPkcs11 / figures.node).toFixed(2)}x node, ${r.toFixed(2)}x the file key's hit`,
        '<= 1.05x file key',
        headline ? r <= 1.05 : undefined,
      )
    } else if (headline) {
      row('token, cached (PKCS#11 key)', `n/a: ${tokens.pkcs11Unavailable}`, '<= 1.05x file key', undefined)
    }
  }
  if (tokens.keychain !== undefined) {
    const r = tokens.keychain.cachedKeychain / tokens.keychain.node
    row('token, cached (keychain)', `${ms(tokens.keychain.cachedKeychain)} = ${r.toFixed(2)}x node`, '<= 1.30x', r <= 1.3)
  } else {
    row('token, cached (keychain)', `n/a: ${tokens.keychainUnavailable}`, '<= 1.30x', undefined)
  }
  const sf = tokens.singleFlight
  const sfRatio = sf.wallMs / sf.hitsWallMs
  row(
    'single flight: 32 cold processes',
    `${sf.mints} mint${sf.mints === 1 ? '' : 's'}, ${sf.failures} failures, ${sf.wallMs} ms wall = ${sfRatio.toFixed(2)}x 32 hits (${sf.hitsWallMs} ms)`,
    '1 mint, <= 1.50x hits',
    sf.mints === 1 && sf.failures === 0 && sfRatio <= 1.5,
  )

  process.stderr.write('server throughput (50 connections)...\n')
  const server = await benchServer(tmp)
  const serverRatio = server.ratio
  row(
    'server: exchanges/s',
    `${server.bktx.rps}/s (errors ${server.bktx.errors}, non-2xx ${server.bktx.non2xx})`,
    'zero errors',
    server.bktx.errors === 0 && server.bktx.non2xx === 0,
  )
  row('server: trivial node:http floor', `${server.trivial.rps}/s`, '', undefined)
  // Its latencies too: a fresh node:http process answering the same 50-connection burst, for the
  // server's p99 (docs/benchmarks.md, "New connections on a busy server").
  row('server: crypto floor (jose ES256 verify)', `${server.crypto.rps}/s, p50 ${server.crypto.p50} ms, p99 ${server.crypto.p99} ms`, '', undefined)
  row(
    'server / crypto floor',
    `${serverRatio.toFixed(2)}x (median of ${server.rounds.map((r) => (r.bktx / r.crypto).toFixed(2)).join(', ')})`,
    '>= 0.70x',
    serverRatio >= 0.7,
  )
  row('server: p50 / p99 latency', `${server.bktx.p50} ms / ${server.bktx.p99} ms`, 'p99 < 25 ms', server.bktx.p99 < 25)
  row('server: peak RSS', `${server.bktx.peakRssMiB} MiB`, '', undefined)

  process.stderr.write('server under a garbage flood, and at the store cap...\n')
  const load = await benchLoad()
  const run = (r) => `${r.rps}/s, p50 ${r.p50} ms, p99 ${r.p99} ms`
  const only4xx = Object.keys(load.flood.statuses).every((s) => s.startsWith('4'))
  row('flood: valid alone (25 connections)', run(load.alone), '', undefined, true)
  row(
    'flood: valid beside 50 garbage connections',
    `${run(load.underFlood)} (errors ${load.underFlood.errors}, non-2xx ${load.underFlood.non2xx})`,
    'p99 < 1000 ms, zero errors',
    load.underFlood.p99 < 1000 && load.underFlood.errors === 0 && load.underFlood.non2xx === 0,
    true,
  )
  row(
    'flood: the garbage',
    `${run(load.flood)} (errors ${load.flood.errors}, ${only4xx ? 'all 4xx' : `statuses ${JSON.stringify(load.flood.statuses)}`})`,
    'only 4xx',
    load.flood.errors === 0 && only4xx,
    true,
  )
  row('flood: valid completions / fair share by connections', `${load.share.toFixed(2)}x`, '>= 0.50x', load.share >= 0.5, true)
  row('flood: valid throughput beside the flood / alone', `${load.throughputRatio.toFixed(2)}x`, '', undefined, true)
  // The in-memory audit log holds at most 10,000 records (a few MiB); nothing else may grow.
  const heapMiB = load.atCap.heapGrowthBytes / 1024 / 1024
  row('store cap: heap growth over 3000 refused requests', `${heapMiB.toFixed(1)} MiB`, '< 16 MiB', heapMiB < 16, true)

  const w = [Math.max(...rows.map((r) => r.name.length)), Math.max(...rows.map((r) => r.value.length)), Math.max(...rows.map((r) => r.target.length))]
  const lines = [
    `bktx benchmarks on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the end`,
    '',
  ]
  for (const r of rows)
    lines.push(`${r.name.padEnd(w[0])}  ${r.value.padEnd(w[1])}  ${r.target.padEnd(w[2])}  ${r.ok === undefined ? '' : r.ok ? 'met' : 'MISSED'}`)
  process.stdout.write(`${lines.join('\n')}\n`)
  writeFileSync(
    new URL('results.json', import.meta.url),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, loadavg: { start: loadStart, end: loadavg() }, rows, raw: { tokens, server, load } }, null, 2)}\n`,
  )
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
