import fc from 'fast-check';
import { isValidReference, normalize, possibleReferences, referenceFor, withCheckDigits } from '../bank/reference';

const paymentId = fc.stringMatching(/^pay_[0-9A-Za-z]{24}$/);
const CHARS = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ'.split('');

test('known ISO 11649 references check, and ours are the same format', () => {
  // The standard's own example: RF18 5390 0754 7034.
  expect(isValidReference('RF18 5390 0754 7034')).toBe(true);
  expect(isValidReference('RF18539007547035')).toBe(false);
  expect(withCheckDigits('539007547034')).toBe('RF18539007547034');
  fc.assert(fc.property(paymentId, (id) => {
    const ref = referenceFor(id);
    expect(ref).toMatch(/^RF\d{14}$/);
    expect(isValidReference(ref)).toBe(true);
    expect(referenceFor(id)).toBe(ref);
  }));
});

test('every single mistyped character is caught', () => {
  fc.assert(fc.property(paymentId, fc.nat(), fc.constantFrom(...CHARS), (id, at, replacement) => {
    const ref = referenceFor(id);
    const i = 2 + (at % (ref.length - 2));
    fc.pre(ref[i] !== replacement);
    expect(isValidReference(`${ref.slice(0, i)}${replacement}${ref.slice(i + 1)}`)).toBe(false);
  }), { numRuns: 2000 });
});

test('every swap of two adjacent characters is caught, and its repairs include the reference meant (the payment it names decides)', () => {
  fc.assert(fc.property(paymentId, fc.nat(), (id, at) => {
    const ref = referenceFor(id);
    const i = 2 + (at % (ref.length - 3));
    fc.pre(ref[i] !== ref[i + 1]);
    const typo = `${ref.slice(0, i)}${ref[i + 1]}${ref[i]}${ref.slice(i + 2)}`;
    expect(isValidReference(typo)).toBe(false);
    const meant = possibleReferences(typo);
    expect(meant).toContainEqual({ reference: ref, corrected: true });
    // Every repair checks, and each is one swap away from what was typed.
    for (const m of meant) expect(isValidReference(m.reference)).toBe(true);
  }), { numRuns: 2000 });
});

test('a reference that checks is taken as written, never "repaired" into another', () => {
  fc.assert(fc.property(paymentId, (id) => {
    const ref = referenceFor(id);
    expect(possibleReferences(ref)).toEqual([{ reference: ref, corrected: false }]);
  }), { numRuns: 500 });
});

test('case, spaces and separators are tolerated; a reference inside free text is found; none is none', () => {
  const ref = referenceFor('pay_0123456789abcdefghijklmn');
  const spaced = `${ref.slice(0, 4)} ${ref.slice(4, 8)} ${ref.slice(8)}`.toLowerCase();
  expect(normalize(spaced)).toBe(ref);
  expect(possibleReferences(spaced)).toEqual([{ reference: ref, corrected: false }]);
  expect(possibleReferences(`Invoice 12, ${ref}`)).toEqual([{ reference: ref, corrected: false }]);
  expect(possibleReferences('')).toEqual([]);
  expect(possibleReferences('thanks for the goods')).toEqual([]);
});
