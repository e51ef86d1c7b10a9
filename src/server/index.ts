// The reference server as a library (dist/server.js), for tests that want Buildkite's token
// exchange in-process: `npm run demo` uses it, and so can users' own test suites.
export { createTokenServer, type TokenServer, type TokenServerDeps } from './app.js'
export { parseServerConfig, type ServerConfig, type ServerConfigOverrides } from './config.js'
export { loadServerConfigFile } from './config-file.js'
export { quickConfigDocument, quickServerConfig, type QuickServerOptions } from './quick-config.js'
export { listen, type Listening, type ListenOptions } from '../http/listen.js'
export { MemoryAuditSink, type AuditRecord } from './audit.js'
