/** printable(): text from the network made safe for a terminal, character class by character class. */
import { describe, expect, it } from 'vitest'
import { MESSAGE_INDENT, printable } from '../../client/commands/terminal.js'

describe('printable', () => {
  it('shows every character a terminal acts on as \\u{..}, and leaves the rest alone', () => {
    const acted = ['\x00', '\x07', '\x08', '\r', '\x1b', '\x1f', '\x7f', '\x80', '\x9b', '\x9d', '\x9f',
      '\u061c', '\u200e', '\u200f', '\u2028', '\u2029', '\u202a', '\u202d', '\u202e', '\u2066', '\u2069']
    for (const char of acted) {
      expect(printable(`a${char}b`)).toBe(`a\\u{${char.codePointAt(0)!.toString(16)}}b`)
    }
    // Ordinary text of any script, emoji and combining marks pass as they are.
    for (const text of ['grace', 'שלום עולם', 'こんにちは', 'e\u0301', '👩🏽‍💻', '\u00a0non-breaking', '\u200d']) {
      expect(printable(text)).toBe(text)
    }
  })

  it('keeps a message\'s line breaks and tabs with indent, but escapes them in a single line', () => {
    expect(printable('one\ntwo\tcols')).toBe('one\\u{a}two\\u{9}cols')
    expect(printable('one\ntwo\tcols\r\n12:00 you: forged', { indent: MESSAGE_INDENT })).toBe(`one\n${MESSAGE_INDENT}two\tcols\\u{d}\n${MESSAGE_INDENT}12:00 you: forged`)
    expect(() => printable('x', { indent: '' })).toThrow(RangeError)
  })
})
