// The floors the reference server is measured against, each run as its own process:
//   node bench/floors.mjs trivial           a node:http server answering a fixed JSON body
//   node bench/floors.mjs verify JWKS_FILE  a node:http endpoint that only parses the form and
//                                           verifies the ES256 assertion with jose
// Each prints "listening on http://127.0.0.1:PORT" on stderr.
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, jwtVerify } from 'jose'

const [mode, jwksFile] = process.argv.slice(2)
const fixed = JSON.stringify({ access_token: 'bktx_floor', token_type: 'Bearer', expires_in: 3600, scope: 'read_builds' })

let handler
if (mode === 'trivial') {
  handler = (req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(fixed) })
      res.end(fixed)
    })
  }
} else if (mode === 'verify') {
  const keys = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')))
  handler = (req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      try {
        const form = new URLSearchParams(Buffer.concat(chunks).toString())
        await jwtVerify(form.get('client_assertion') ?? '', keys, { algorithms: ['ES256'] })
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(fixed) })
        res.end(fixed)
      } catch {
        res.writeHead(401).end()
      }
    })
  }
} else {
  console.error('usage: node bench/floors.mjs trivial|verify JWKS_FILE')
  process.exit(2)
}

const server = createServer(handler)
server.listen(0, '127.0.0.1', () => console.error(`listening on http://127.0.0.1:${server.address().port}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
