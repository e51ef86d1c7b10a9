import type { Advice } from '../errors.js'
import { printable } from '../http/body.js'
import { redactURL } from '../http/url.js'
import type { JwksReport, JwksSource } from '../jwks/check.js'
import type { JwksProblem } from '../jwks/rules.js'
import { fail, pass, type Check } from './check.js'

/** A JWKS source for messages: a URL without query or credentials, a path, or `stdin`. */
export function sourceName(source: JwksSource): string {
  switch (source.kind) {
    case 'url':
      return redactURL(source.url)
    case 'file':
      return source.path
    case 'text':
      return source.name
  }
}

const PUBLISH: Advice = ['publish what ', { command: 'jwks', options: ['out'] }, ' writes (public members only, one kid per key)']

/** What fixes a broken rule of a JWKS (./check.ts's problems), for its FAIL. */
export function problemFix(problem: JwksProblem): Advice {
  switch (problem.reason) {
    case 'insecure-scheme':
      return [
        'publish it over https (Buildkite fetches https:// only; the reference server takes http:// to loopback with ',
        { option: 'allow-http-jwks' },
        ')',
      ]
    case 'redirect':
      return ['register the URL the redirect points to']
    case 'status':
      return ['check the URL and the web server that publishes it']
    case 'too-large':
      return ['publish only the keys that sign (', { command: 'jwks' }, ' builds the set from key files)']
    case 'bad-key':
      return ['remove that key, or replace it with an ES256 or RS256 (RSA of 2048 bits or more) key: ', { command: 'keygen' }]
    default:
      return PUBLISH
  }
}

/**
 * The checks of a JWKS report: one PASS for a document Buildkite accepts, else one FAIL per
 * broken rule; then, when a key was asked for, whether the set holds it (same kid, same public
 * key). `id` names the checks (`jwks`, then `jwks-kid`).
 */
export function jwksChecks(report: JwksReport, options: { what?: string } = {}): Check[] {
  const name = sourceName(report.source)
  const checks: Check[] = []
  if (report.problems.length === 0) {
    const kids = report.keys.map((k) => `${printable(k.kid, 100)} ${k.alg}`).join(', ')
    const http =
      report.http === undefined ? '' : `, HTTP ${report.http.status}${report.http.contentType === '' ? '' : ` ${printable(report.http.contentType, 80)}`}`
    checks.push(pass('jwks', `${name}: ${report.keys.length} key${report.keys.length === 1 ? '' : 's'} Buildkite accepts (${kids})${http}`))
  } else {
    for (const problem of report.problems) {
      checks.push(fail('jwks', `${name}${problem.at === '' ? '' : ` ${problem.at}`}: ${printable(problem.problem, 300)}`, problemFix(problem)))
    }
  }
  const wanted = report.wanted
  if (wanted !== undefined && report.bytes !== undefined) {
    const what = options.what ?? 'the wanted key'
    const kid = wanted.kid === undefined ? undefined : printable(wanted.kid, 100)
    const present = report.keys.map((k) => printable(k.kid, 100)).join(', ') || 'none'
    if (!wanted.found) {
      checks.push(
        fail(
          'jwks-kid',
          kid === undefined
            ? `${name} holds no key with the public key of ${what} (kids in the set: ${present})`
            : `${name} has no key with kid ${kid}, ${what} (kids in the set: ${present})`,
          [
            'publish a JWKS that holds it: ',
            { command: 'jwks', options: ['out'] },
            ' (during a rotation, ',
            { command: 'key rotate' },
            ' publishes the old and the new key together)',
          ],
        ),
      )
    } else if (wanted.samePublicKey === false) {
      checks.push(
        fail('jwks-kid', `${name} has kid ${kid ?? ''}, but with a public key other than that of ${what}`, [
          'publish the JWKS of the key that signs (',
          { command: 'jwks', options: ['out'] },
          '), or sign with the key published under that kid',
        ]),
      )
    } else {
      const same = wanted.samePublicKey === true ? `, with the public key of ${what}` : ''
      checks.push(
        pass(
          'jwks-kid',
          kid === undefined ? `${name} holds the public key of ${what} (no kid header: Buildkite tries every key)` : `${name} holds kid ${kid}${same}`,
        ),
      )
    }
  }
  return checks
}
