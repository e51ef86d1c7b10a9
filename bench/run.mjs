// npm run bench: builds bktx, runs every benchmark, prints a table of figures next to their
// targets and writes bench/results.json. Ratios, not absolute times: machines differ.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
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
const rows = []
// `security` marks the rows docs/security/figures.md shows too (scripts/security-figures.mjs picks them up).
const row = (name, value, target, ok, security = false) => rows.push({ name, value, target, ok, ...(security ? { security } : {}) })

try {
  process.stderr.write('bktx token: cached, uncached, single flight...\n')
  const tokens = await benchTokens(tmp)
  const ratio = (a, b) => a / b
  const cachedFile = ratio(tokens.cachedFile, tokens.node)
  row('node -e 0', `${tokens.node.toFixed(1)} ms`, '', undefined)
  row('token, cached (file)', `${tokens.cachedFile.toFixed(1)} ms = ${cachedFile.toFixed(2)}x node`, '<= 1.25x', cachedFile <= 1.25)
  if (tokens.cachedPkcs11 !== undefined) {
    const cachedPkcs11 = ratio(tokens.cachedPkcs11, tokens.node)
    row('token, cached (PKCS#11 key)', `${tokens.cachedPkcs11.toFixed(1)} ms = ${cachedPkcs11.toFixed(2)}x node`, '<= 1.25x', cachedPkcs11 <= 1.25)
  } else {
    row('token, cached (PKCS#11 key)', `n/a: ${tokens.pkcs11Unavailable}`, '<= 1.25x', undefined)
  }
  if (tokens.cachedKeychain !== undefined) {
    const cachedKeychain = ratio(tokens.cachedKeychain, tokens.nodeKeychain)
    row('token, cached (keychain)', `${tokens.cachedKeychain.toFixed(1)} ms = ${cachedKeychain.toFixed(2)}x node`, '<= 1.50x', cachedKeychain <= 1.5)
  } else {
    row('token, cached (keychain)', `n/a: ${tokens.keychainUnavailable}`, '<= 1.50x', undefined)
  }
  const uncached = ratio(tokens.uncached, tokens.node)
  row(
    'token, uncached (full exchange)',
    `${tokens.uncached.toFixed(1)} ms = ${uncached.toFixed(2)}x node, ${ratio(tokens.uncached, tokens.cachedFile).toFixed(2)}x cached`,
    '<= 2.00x',
    uncached <= 2,
  )
  if (tokens.withoutExtraCa !== undefined) {
    const bare = tokens.withoutExtraCa
    row('without NODE_EXTRA_CA_CERTS: node -e 0', `${bare.node.toFixed(1)} ms`, '', undefined)
    row(
      'without NODE_EXTRA_CA_CERTS: token, cached (file) / uncached',
      `${bare.cachedFile.toFixed(1)} ms = ${ratio(bare.cachedFile, bare.node).toFixed(2)}x / ${bare.uncached.toFixed(1)} ms = ${ratio(bare.uncached, bare.node).toFixed(2)}x node`,
      '',
      undefined,
    )
  }
  const status = ratio(tokens.status, tokens.nodeStatus)
  row(
    'status (offline)',
    `${tokens.status.toFixed(1)} ms = ${status.toFixed(2)}x node, ${ratio(tokens.status, tokens.version).toFixed(2)}x bktx --version (${tokens.version.toFixed(1)} ms)`,
    '<= 2.00x',
    status <= 2,
  )
  const sf = tokens.singleFlight
  row(
    'single flight: 32 cold processes',
    `${sf.mints} mint${sf.mints === 1 ? '' : 's'}, ${sf.failures} failures, ${sf.wallMs} ms wall`,
    '1 mint',
    sf.mints === 1 && sf.failures === 0,
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
  row('server: crypto floor (jose ES256 verify)', `${server.crypto.rps}/s`, '', undefined)
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
  const lines = [`bktx benchmarks on ${cpus().length} cores, node ${process.version}`, '']
  for (const r of rows)
    lines.push(`${r.name.padEnd(w[0])}  ${r.value.padEnd(w[1])}  ${r.target.padEnd(w[2])}  ${r.ok === undefined ? '' : r.ok ? 'met' : 'MISSED'}`)
  process.stdout.write(`${lines.join('\n')}\n`)
  writeFileSync(
    new URL('results.json', import.meta.url),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, rows, raw: { tokens, server, load } }, null, 2)}\n`,
  )
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
