// The reference server's building blocks, bundled as dist/server-internal.js for bktx's own
// benchmarks (bench/load.mjs runs the server in its own process with a small store cap). Not
// part of the package's API: package.json "exports" does not list it, so users cannot import
// it; they have bktx/server (src/api/server.ts).
export { createTokenServer } from './app.js'
export { parseServerConfig } from './config/config.js'
export { listen } from '../http/listen.js'
