import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { escapeControls, excerpt, terminalSafeJSON } from '../../../src/text/sanitize.js'

// Issue 13: text from servers, JWTs and files reaches the terminal only with its control
// characters escaped.

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

describe('escapeControls', () => {
  it('escapes C0, DEL, C1, line separators and bidi controls; keeps printable Unicode', () => {
    expect(escapeControls('\u001b[2J\u001b]52;c;aGk=\u0007')).toBe('\\x1b[2J\\x1b]52;c;aGk=\\x07')
    expect(escapeControls('a\u009b31mb\u007fc')).toBe('a\\x9b31mb\\x7fc')
    expect(escapeControls('x\u202ey\u2028z')).toBe('x\\u202ey\\u2028z')
    expect(escapeControls('Zoë Ünal ✓ 名前')).toBe('Zoë Ünal ✓ 名前')
  })

  it('escapes newlines in single-line fields, keeps them in multi-line text', () => {
    expect(escapeControls('name\n✓ signature verified\r')).toBe('name\\n✓ signature verified\\r')
    expect(escapeControls('line 1\nline 2\r\t', { multiline: true })).toBe('line 1\nline 2\\r\\t')
  })

  it('leaves no control character and is idempotent, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const once = escapeControls(text)
        expect(CONTROL.test(once)).toBe(false)
        expect(escapeControls(once)).toBe(once)
        expect(CONTROL.test(escapeControls(text, { multiline: true }).replace(/\n/g, ''))).toBe(false)
      }),
    )
  })

  it('excerpt caps after escaping', () => {
    expect(excerpt('\u001b'.repeat(10), 8)).toBe('\\x1b\\x1b…')
  })
})

describe('terminalSafeJSON', () => {
  it('parses to the same value and holds no C1, DEL or bidi character', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, text) => {
        const json = JSON.stringify({ value, text }, null, 2)
        const safe = terminalSafeJSON(json)
        expect(JSON.parse(safe)).toEqual(JSON.parse(json))
        expect(CONTROL.test(safe.replace(/\n/g, ''))).toBe(false)
      }),
    )
  })
})
