import { describe, expect, it } from 'vitest'
import { closestScope, editDistance, KNOWN_SCOPES, unknownScopeNotices } from '../../../src/exchange/scopes.js'
import { KNOWN_SCOPES as SERVER_SCOPES } from '../../../src/server/scopes.js'

describe('the scope table', () => {
  it('is one table: the reference server grants from the same set the token commands check against', () => {
    expect(SERVER_SCOPES).toBe(KNOWN_SCOPES)
    expect(KNOWN_SCOPES.has('read_builds')).toBe(true)
    expect(KNOWN_SCOPES.has('graphql')).toBe(true)
  })
})

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['read_builds', 'read_builds', 0],
    ['read_bilds', 'read_builds', 1],
    ['read_biulds', 'read_builds', 1],
    ['raed_builds', 'read_builds', 1],
    ['read_buildss', 'read_builds', 1],
    ['kitten', 'sitting', 3],
    ['', 'abc', 3],
    ['ca', 'abc', 3],
  ])('%s → %s: %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance)
    expect(editDistance(b, a)).toBe(distance)
  })
})

describe('unknown scope names', () => {
  it('suggest the known scope a typo most likely meant', () => {
    expect(closestScope('read_bilds')).toBe('read_builds')
    expect(closestScope('READ_BUILDS')).toBe('read_builds')
    expect(closestScope('write_pipline')).toBe('write_pipelines')
    expect(closestScope('read_artefacts')).toBe('read_artifacts')
    // Nothing near enough: no guess rather than a wild one.
    expect(closestScope('deploy')).toBeUndefined()
    expect(closestScope('ab')).toBeUndefined()
  })

  it('give one notice each, saying they are sent anyway; known scopes give none', () => {
    expect(unknownScopeNotices(['read_builds', 'graphql'])).toEqual([])
    expect(unknownScopeNotices(['read_bilds', 'read_builds', 'read_bilds', 'manage_everything'])).toEqual([
      { kind: 'unknown-scope', message: 'unknown scope read_bilds (did you mean read_builds?); sending it anyway' },
      {
        kind: 'unknown-scope',
        message: 'unknown scope manage_everything; sending it anyway',
        advice: ['check ', { setting: 'scope' }, " against Buildkite's API token scopes"],
      },
    ])
  })
})
