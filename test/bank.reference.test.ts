import fc from 'fast-check';
import { intendedReference, isValidReference, normalize, referenceFor, withCheckDigits } from '../bank/reference';

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

test('every swap of two adjacent characters is caught, and repaired when only one swap makes sense', () => {
  fc.assert(fc.property(paymentId, fc.nat(), (id, at) => {
    const ref = referenceFor(id);
    const i = 2 + (at % (ref.length - 3));
    fc.pre(ref[i] !== ref[i + 1]);
    const typo = `${ref.slice(0, i)}${ref[i + 1]}${ref[i]}${ref.slice(i + 2)}`;
    expect(isValidReference(typo)).toBe(false);
    const meant = intendedReference(typo);
    // Either the original, or nothing when another swap would also check (never a wrong one).
    expect(meant === ref || meant === undefined).toBe(true);
  }), { numRuns: 2000 });
});

test('case, spaces and separators are tolerated; free text around the reference is not guessed at', () => {
  const ref = referenceFor('pay_0123456789abcdefghijklmn');
  const spaced = `${ref.slice(0, 4)} ${ref.slice(4, 8)} ${ref.slice(8)}`.toLowerCase();
  expect(normalize(spaced)).toBe(ref);
  expect(intendedReference(spaced)).toBe(ref);
  expect(intendedReference(`INVOICE ${ref}`)).toBeUndefined();
  expect(intendedReference('')).toBeUndefined();
});
