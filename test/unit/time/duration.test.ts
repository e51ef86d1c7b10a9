import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration } from '../../../src/time/duration.js'

describe('parseDuration', () => {
  it.each([
    ['90', 90],
    ['90s', 90],
    ['15m', 900],
    ['1h', 3600],
    ['1d', 86400],
    ['0', 0],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds)
  })

  it.each(['', ' 90', '90 ', '-5', '1.5h', '1e3', '5x', 'h', '1hh', '1H', '0x10', '9999999999'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined()
  })
})

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [59, '59s'],
    [60, '1m'],
    [90, '1m30s'],
    [3600, '1h'],
    [3661, '1h1m1s'],
  ])('%d → %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text)
  })
})
