/**
 * Registry names (SPEC §13.2): `[a-z0-9_]`, 3 to 32 characters, ASCII A-Z
 * folded to lowercase, every other character refused (lookalikes from other
 * scripts, fullwidth forms, invisible characters, combining marks, emoji),
 * and the reserved list.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BadNameError, normalizeName, normalizeNameSyntax, RESERVED_NAMES } from '../../protocol/index.js'

function badName (input: string): BadNameError {
  try {
    normalizeName(input)
  } catch (error) {
    expect(error).toBeInstanceOf(BadNameError)
    return error as BadNameError
  }
  throw new Error(`normalizeName accepted ${JSON.stringify(input)}`)
}

describe('normalizeName', () => {
  it('accepts [a-z0-9_] from 3 to 32 characters and folds ASCII uppercase', () => {
    expect(normalizeName('abc')).toBe('abc')
    expect(normalizeName('a_1')).toBe('a_1')
    expect(normalizeName('___')).toBe('___')
    expect(normalizeName('007')).toBe('007')
    expect(normalizeName('Alice_42')).toBe('alice_42')
    expect(normalizeName('ROSA_LUXEMBURG')).toBe('rosa_luxemburg')
    expect(normalizeName('z'.repeat(32))).toBe('z'.repeat(32))
  })

  it.each([
    ['', 0], ['a', 1], ['ab', 2], ['x'.repeat(33), 33], ['x'.repeat(1000), 1000]
  ])('refuses %j for its length', (input, length) => {
    const error = badName(input)
    expect(error.name).toBe('BadNameError')
    expect(error.reason).toBe('length')
    expect(error.message).toBe(`names are 3 to 32 characters, got ${length}`)
  })

  // Each is put inside an otherwise valid name; the message must name the code point.
  it.each([
    ['Cyrillic a', '\u0430'], ['Cyrillic e', '\u0435'], ['Cyrillic o', '\u043e'], ['Cyrillic capital A', '\u0410'],
    ['Greek omicron', '\u03bf'], ['Greek capital alpha', '\u0391'], ['Latin small dotless i', '\u0131'],
    ['Latin capital I with dot', '\u0130'], ['long s (uppercases to S)', '\u017f'], ['Kelvin sign (lowercases to k)', '\u212a'],
    ['fullwidth a', '\uff41'], ['fullwidth A', '\uff21'], ['fullwidth 1', '\uff11'], ['fullwidth low line', '\uff3f'],
    ['mathematical bold a', '\u{1d41a}'], ['superscript two', '\u00b2'], ['Arabic-Indic digit one', '\u0661'],
    ['precomposed e acute', '\u00e9'], ['combining acute accent', '\u0301'], ['combining dot above', '\u0307'],
    ['zero-width joiner', '\u200d'], ['zero-width non-joiner', '\u200c'], ['zero-width space', '\u200b'],
    ['byte order mark', '\ufeff'], ['soft hyphen', '\u00ad'], ['right-to-left override', '\u202e'],
    ['emoji', '\u{1f600}'], ['emoji with skin tone', '\u{1f44d}\u{1f3fd}'], ['flag', '\u{1f1eb}\u{1f1f7}'],
    ['space', ' '], ['no-break space', '\u00a0'], ['tab', '\t'], ['NUL', '\u0000'], ['hyphen-minus', '-'], ['dot', '.'],
    ['at sign', '@'], ['lone surrogate', '\ud800']
  ])('refuses the %s', (_label, character) => {
    const error = badName(`ali${character}ce`)
    expect(error.reason).toBe('charset')
    const codePoint = character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')
    expect(error.message).toContain(`U+${codePoint}`)
    expect(error.message).toMatch(/^names use only a-z, 0-9 and _; /)
  })

  it('says which character is wrong in words a user can act on', () => {
    expect(badName('\u0430lice').message).toBe('names use only a-z, 0-9 and _; "\u0430" (U+0430) is not allowed')
    expect(badName('al\u200dice').message).toBe('names use only a-z, 0-9 and _; the invisible character U+200D is not allowed')
    expect(badName('ali ce').message).toBe('names use only a-z, 0-9 and _; the space U+0020 is not allowed')
    expect(badName('alice\u0301').message).toBe('names use only a-z, 0-9 and _; the combining mark U+0301 is not allowed')
  })

  it('a lookalike is refused even when the name would be too short or too long', () => {
    // The character is the more useful thing to tell: fixing it may fix the length too.
    expect(badName('\u0430b').reason).toBe('charset')
    expect(badName('x'.repeat(40) + '\uff41').reason).toBe('charset')
  })

  it('refuses every reserved name, in any ASCII case', () => {
    for (const name of RESERVED_NAMES) {
      expect(name).toMatch(/^[a-z0-9_]{3,32}$/) // the list itself is made of valid names
      const error = badName(name)
      expect(error.reason).toBe('reserved')
      expect(badName(name.toUpperCase()).reason).toBe('reserved')
    }
    expect(badName('Admin').message).toBe('"admin" is reserved; choose another name')
    expect(RESERVED_NAMES.size).toBe(34)
    expect(normalizeName('admin_alice')).toBe('admin_alice')
  })

  it('normalizeNameSyntax checks length and characters but not the reserved list', () => {
    expect(normalizeNameSyntax('ADMIN')).toBe('admin')
    expect(() => normalizeNameSyntax('\u0430dmin')).toThrow(BadNameError)
    expect(() => normalizeNameSyntax('ad')).toThrow(BadNameError)
  })

  it('throws TypeError for something that is not a string', () => {
    expect(() => normalizeName(42 as unknown as string)).toThrow(TypeError)
    expect(() => normalizeName(null as unknown as string)).toThrow(TypeError)
  })

  it('accepts exactly the ASCII [A-Za-z0-9_]{3,32} names not reserved, lowercased (any Unicode input)', () => {
    const nameish = fc.string({ unit: fc.constantFrom(...'aAzZ09_-. \u0430\u200d\uff41\u0301\u212a'), minLength: 0, maxLength: 36 })
    fc.assert(fc.property(fc.oneof(nameish, fc.string({ unit: 'binary', maxLength: 40 })), (input) => {
      const valid = /^[A-Za-z0-9_]{3,32}$/.test(input) && !RESERVED_NAMES.has(input.toLowerCase())
      let result: string | undefined
      try {
        result = normalizeName(input)
      } catch (error) {
        expect(error).toBeInstanceOf(BadNameError)
      }
      expect(result !== undefined).toBe(valid)
      if (result !== undefined) {
        expect(result).toBe(input.toLowerCase())
        expect(normalizeName(result)).toBe(result) // idempotent
      }
    }), { numRuns: 2000 })
  })
})
