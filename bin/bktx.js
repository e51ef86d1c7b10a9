#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): a `bktx token` or `bktx env` cache hit is answered by
// dist/fast-token.cjs without starting Node's ES module loader, and that file is compiled from
// a V8 code cache kept in the user's cache directory (Node 20 has no module.enableCompileCache;
// where Node has it, it is enabled for the rest). Everything else runs the full CLI, which is
// CommonJS too (dist/cli.cjs, one file) and compiled from a code cache of its own.
'use strict'
// Node answers SIGUSR1 by opening an inspector on 127.0.0.1:9229, through which anyone who can
// connect runs code in this process, which holds a private key and tokens. A listener replaces
// that handler for the life of the process (Node 20 has no --disable-sigusr1); bktx exec
// passes the signal on to its command instead. This is the first line that runs, so only the
// few milliseconds of Node's own start-up remain open.
process.on('SIGUSR1', () => {})
const argv = process.argv.slice(2)
// Set once the full CLI's V8 flag is (liftoffOnly, below): a code cache made after it is rejected by a run without it.
let flagsChanged = false
// `bktx complete` (each TAB of the shell completions) is answered by dist/complete.cjs, from a table of the program (src/complete/main.ts).
// `bktx --version` and `bktx help` are constants (dist/fast-static.cjs, src/fast/static.ts).
const constant = argv.length === 1 && ['--version', '-V', 'help', '--help', '-h'].includes(argv[0])
const fastPath =
  (argv[0] === 'token' || argv[0] === 'env') &&
  !argv.some((a) => a === '--no-cache' || a === '--refresh' || a.startsWith('--no-cache=') || a.startsWith('--refresh='))
const served =
  argv[0] === 'complete'
    ? require('../dist/complete.cjs').complete(argv.slice(1))
    : constant && require('../dist/fast-static.cjs').serveStatic(argv)
      ? Promise.resolve(true)
      : fastPath
        ? orElse(serveHit(argv), () => serveCached(argv))
        : argv[0] === 'status'
          ? // `bktx status` without commander (src/fast/status-main.ts); anything it cannot serve, the full CLI does.
            loadWithCodeCache(require('node:path').join(__dirname, '..', 'dist', 'fast-status.cjs')).serveStatus(argv.slice(1))
          : Promise.resolve(false)
served.then((done) => {
  if (done) return undefined
  // `bktx token` and `bktx env` that exchange (a miss, --no-cache, --refresh) run the full CLI's
  // token commands without commander and the other commands (dist/fast-mint.cjs,
  // src/mint/main.ts), unless it declines (an option it does not take, a terminal): then the full CLI.
  // It runs without the V8 flag src/bin.ts names, as the full CLI does (below).
  globalThis[Symbol.for('bktx.liftoff-only')] = liftoffOnly
  if (argv[0] === 'token' || argv[0] === 'env') {
    let minting
    const { mint } = loadWithCodeCache(require('node:path').join(__dirname, '..', 'dist', 'fast-mint.cjs'), argv[0], {
      worth: () => minting !== undefined,
      flagInRun: true,
    })
    minting = mint(argv)
    if (minting !== undefined) return minting
  }
  require('node:module').enableCompileCache?.()
  // One cache per command (what V8 caches is what the run compiled, and commands share little
  // beyond the start-up), written only after a run that succeeded, so a mistyped command leaves none.
  // The full CLI runs without the V8 flag src/bin.ts names, which it needs only for undici (a
  // proxy, --ca-file): any flag set makes V8 reject the code cache Node embeds for its own
  // modules, and node:crypto, node:http, streams and the rest a command loads were then compiled
  // from their source (a fifth of an exchange's instructions, measured on the mint). The bundle
  // sets it before it loads undici (scripts/build.mjs), and such runs keep a code cache apart.
  const command = /^[a-z][a-z0-9-]{0,31}$/.test(argv[0] ?? '') ? argv[0] : '-'
  loadWithCodeCache(require('node:path').join(__dirname, '..', 'dist', 'cli.cjs'), command, { flagInRun: true })
  return undefined
})

/**
 * The V8 flag src/bin.ts names, set before undici loads (dist/cli.cjs and dist/fast-mint.cjs
 * call it: scripts/build.mjs). A code cache records the flags it was made under and V8 rejects
 * it under any others, so a run that set it keeps its cache apart (loadWithCodeCache's flagInRun).
 */
function liftoffOnly() {
  if (flagsChanged) return
  flagsChanged = true
  require('node:v8').setFlagsFromString('--liftoff-only')
}

/**
 * `bktx token` or `bktx env` answered from the cache by dist/fast-token.cjs, whose code cache is
 * written after a run it served: a miss went on to the mint and did not run what a hit runs.
 */
function serveCached(argv) {
  let served = false
  return loadWithCodeCache(require('node:path').join(__dirname, '..', 'dist', 'fast-token.cjs'), undefined, { worth: () => served })
    .serveCached(argv)
    .then((done) => {
      served = done
      return done
    })
}

/**
 * A command dist/fast-token.cjs answered from the cache before, answered again from that
 * answer's memo when nothing it depended on changed (dist/fast-hit.cjs, src/fast/memo.ts).
 * Its code cache is written after a run it served, so that it holds every function a hit calls.
 */
function serveHit(argv) {
  let served = false
  // A memo whose token is in the keychain reads the item with dist/fast-keychain.cjs, loaded only then.
  let read = false
  const keychain = () =>
    loadWithCodeCache(require('node:path').join(__dirname, '..', 'dist', 'fast-keychain.cjs'), undefined, { worth: () => read, small: true }).readKeychainToken
  const answer = loadWithCodeCache(require('node:path').join(__dirname, '..', 'dist', 'fast-hit.cjs'), undefined, {
    worth: () => served,
    small: true,
  }).serveHit(argv, {
    keychain,
  })
  if (typeof answer === 'boolean') {
    served = answer
    return answer
  }
  return answer.then((done) => {
    served = read = done
    return done
  })
}

/** `answer` (true, false or a promise of either) as a promise; `otherwise` when it is false. */
function orElse(answer, otherwise) {
  if (answer === true) return Promise.resolve(true)
  if (answer === false) return otherwise()
  return answer.then((done) => done || otherwise())
}

/**
 * require(file), compiled with a V8 code cache when one is there and still valid. The cache is
 * named after the file's identity and times and the Node version (V8 itself checks only the
 * source length), lives in $XDG_CACHE_HOME/bktx/v8 or $BKTX_CODE_CACHE (0700, files 0600, both
 * checked to be the user's own, as the token cache is), and is written once after the first
 * run. With `variant`, each variant has a cache of its own, written only after a run that ends
 * with exit code 0. With `worth`, only after a run for which it says true (the exchange's
 * bundle: not when it declined the run). `small`: a file of a few kilobytes, read as UTF-8 (see below).
 * `flagInRun`: the bundle may set the full CLI's flag as it runs (liftoffOnly; the mint, before
 * it loads undici): the cache of such a run is kept apart (variant `VARIANT-liftoff`) and compiled
 * under that flag, set first, when it is the only one there.
 */
function loadWithCodeCache(file, variant, { worth, small = false, flagInRun = false } = {}) {
  const fs = require('node:fs')
  const path = require('node:path')
  // The bundles are ASCII (esbuild escapes the rest; scripts/build.mjs checks): read as latin1,
  // the same text without the UTF-8 decoding, a few milliseconds on the full CLI's half megabyte.
  // A small file is read as UTF-8, which Node reads in one native call: latin1 takes the
  // JavaScript path (open, stat, read, close), whose first use costs a hit more than decoding.
  const source = fs.readFileSync(file, small ? 'utf8' : 'latin1')
  const dir = codeCacheDir(path)
  if (dir === undefined) {
    const mod = { exports: {} }
    compiled(source, file).runInThisContext().call(mod.exports, mod.exports, require, mod, file, path.dirname(file))
    return mod.exports
  }
  // Named after the file's identity, not a hash of its text: hashing needs node:crypto, which
  // costs a hit about 5 ms to load and which the hit itself never needs. An installed file that
  // changes in any way gets a new ctime (which no user can set) and so a new name. Times in
  // milliseconds keep a fraction of a microsecond; a BigInt stat costs a hit its own classes.
  const info = fs.statSync(file)
  const name = `${process.version}-${process.arch}-${info.dev}-${info.ino}-${info.size}-${info.mtimeMs}-${info.ctimeMs}`
  const prefix = `${path.basename(file)}-${variant === undefined ? '' : `${variant}-`}`
  const cacheFile = path.join(dir, `${prefix}${name}.bin`)
  // The cache of a run that set the flag as it ran (flagInRun): V8 accepts it only under that flag.
  const flaggedPrefix = `${path.basename(file)}-${variant === undefined ? '' : `${variant}-`}liftoff-`
  const flaggedFile = path.join(dir, `${flaggedPrefix}${name}.bin`)
  const uid = process.getuid?.()
  const own = (info) => uid === undefined || (info.uid === uid && (info.mode & 0o077) === 0)
  const readCache = (cacheFile) => {
    try {
      const fd = fs.openSync(cacheFile, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0))
      try {
        const cache = fs.fstatSync(fd)
        if (own(cache) && own(fs.lstatSync(dir))) {
          // One read of the size fstat gave (a cache is written whole, then renamed into place):
          // readFileSync's JavaScript path costs a hit more to compile than the read itself.
          const buffer = Buffer.allocUnsafe(cache.size)
          if (fs.readSync(fd, buffer, 0, cache.size, 0) === cache.size) return buffer
        }
      } finally {
        fs.closeSync(fd)
      }
    } catch {
      // No cache yet: compile from source.
    }
    return undefined
  }
  let cachedData = readCache(cacheFile)
  // Only a flagged cache there (every run so far set the flag: a proxy, --ca-file): the flag first.
  if (cachedData === undefined && flagInRun && !flagsChanged) {
    cachedData = readCache(flaggedFile)
    if (cachedData !== undefined) liftoffOnly()
  }
  const compiledUnderFlags = flagsChanged
  const script = compiled(source, file, cachedData)
  const mod = { exports: {} }
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, file, path.dirname(file))
  if (cachedData === undefined || script.cachedDataRejected) {
    // After this run, so the cache holds the functions the run compiled, not just the top level.
    process.once('beforeExit', () => {
      if (variant !== undefined && (process.exitCode ?? 0) !== 0) return
      if (worth !== undefined && !worth()) return
      // The fast path's bundle, when the run went on to the full CLI (a miss): its cache would
      // now be made under the full CLI's flag, which the next hit (without it) would reject.
      // The mint's, when it set the flag itself: kept apart, for runs that set it first.
      if (flagsChanged !== compiledUnderFlags && !flagInRun) return
      const [target, targetPrefix] = flagInRun && flagsChanged ? [flaggedFile, flaggedPrefix] : [cacheFile, prefix]
      try {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
        const temp = `${target}.${process.pid}.tmp`
        fs.writeFileSync(temp, script.createCachedData(), { mode: 0o600, flag: 'wx' })
        fs.renameSync(temp, target)
        pruneCodeCaches(dir, targetPrefix, target)
      } catch {
        // A cache that cannot be written only costs speed.
      }
    })
  }
  return mod.exports
}

/** The script of a bundle, compiled from `cachedData` when V8 accepts it. */
function compiled(source, file, cachedData) {
  // Module.wrap's text, written out: requiring node:module for it loads Node's ES module loader.
  return new (require('node:vm').Script)(`(function (exports, require, module, __filename, __dirname) { ${source}\n});`, { filename: file, cachedData })
}

/**
 * Where the code caches go: $BKTX_CODE_CACHE when it is an absolute path (a home that is read-only
 * or thrown away after each job can point it at one that lasts; the tests share one across their
 * thousand fresh homes), none when it is `off`, else $XDG_CACHE_HOME/bktx/v8.
 */
function codeCacheDir(path) {
  const setting = process.env.BKTX_CODE_CACHE
  if (setting === 'off') return undefined
  if (setting && path.isAbsolute(setting)) return setting
  // os.homedir() is $HOME when set: node:os is loaded only without it.
  const home = process.platform !== 'win32' && process.env.HOME !== undefined ? process.env.HOME : require('node:os').homedir()
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(home, '.cache')
  return path.join(base, 'bktx', 'v8')
}

/**
 * Removes this file's caches (same bundle and command) that an earlier install or Node version
 * left: each is some 400 KB, no run reads it again, and every upgrade would leave one more per
 * command. Only those untouched for 30 days, since two installs sharing a cache directory (a
 * global one and npx) each keep their own, and a cache is only ever written, never touched, so
 * a live one would otherwise be removed by the other install every time it writes. Runs only
 * after writing a cache, which is rare: the first run of a command after an install.
 */
function pruneCodeCaches(dir, prefix, keep) {
  const fs = require('node:fs')
  const path = require('node:path')
  const before = Date.now() - 30 * 24 * 60 * 60 * 1000
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name)
    // Then the Node version: `help-x`'s caches do not start with `help`'s and a version.
    if (!name.startsWith(prefix) || file === keep || !/^v\d+\.\d+\.\d+-.*\.(bin|tmp)$/.test(name.slice(prefix.length))) continue
    try {
      const info = fs.lstatSync(file)
      if (info.isFile() && info.mtimeMs < before) fs.unlinkSync(file)
    } catch {
      // Gone meanwhile, or not ours to remove: left as it is.
    }
  }
}
