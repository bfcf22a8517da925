import { createHash } from 'node:crypto';

/**
 * Bank transfer references as ISO 11649 creditor references (`RF` + two check digits + a
 * numeric body), the format European banks already validate and print: the ISO 7064 MOD 97-10
 * check catches every single mistyped character and every swap of two adjacent ones, so a
 * payer's typo is caught instead of crediting the wrong payment.
 */

/**
 * Digits only: MOD 97-10 detects every single substitution and adjacent swap on digit strings,
 * while letters (two digits each) let some slip through. 12 digits keep references short and,
 * with a uniqueness check where they are stored, collisions out of the way.
 */
const BODY_LENGTH = 12;

/** Letters as ISO 7064 reads them (A = 10 … Z = 35), then the remainder modulo 97, piecewise. */
function mod97(chars: string): number {
  let remainder = 0;
  for (const c of chars) {
    for (const d of String(parseInt(c, 36))) remainder = (remainder * 10 + Number(d)) % 97;
  }
  return remainder;
}

/** `RF` + check digits + body: the check digits make the whole reference ≡ 1 (mod 97). */
export function withCheckDigits(body: string): string {
  const check = 98 - mod97(`${body}RF00`);
  return `RF${String(check).padStart(2, '0')}${body}`;
}

/** A reference derived from the payment id: the same payment always gets the same one. */
export function referenceFor(paymentId: string): string {
  const hash = createHash('sha256').update(paymentId).digest();
  const body = (hash.readBigUInt64BE(0) % 10n ** BigInt(BODY_LENGTH)).toString().padStart(BODY_LENGTH, '0');
  return withCheckDigits(body);
}

/** Upper case, no spaces or separators: how a reference is compared. */
export function normalize(text: string): string {
  return text.toUpperCase().replace(/[\s\-./]/g, '');
}

export function isValidReference(text: string): boolean {
  const ref = normalize(text);
  // Ours are digits only: a letter in the body is a typo, whatever the remainder says.
  if (!/^RF\d{3,23}$/.test(ref)) return false;
  return mod97(`${ref.slice(4)}${ref.slice(0, 4)}`) === 1;
}

/** Our references are `RF` + 2 check digits + the body. */
const REFERENCE_LENGTH = 4 + BODY_LENGTH;

/**
 * Every reference a payer's text may mean: the text, or a reference-shaped piece of it, as
 * written when one checks; otherwise every single swap of adjacent characters that checks (a
 * swap can have several repairs that all pass mod 97). The caller keeps the one that names an
 * open payment: more than one, or none, and the credit stays unmatched.
 */
export function possibleReferences(text: string): { reference: string; corrected: boolean }[] {
  const whole = normalize(text);
  const pieces = [whole];
  for (let i = whole.indexOf('RF'); i >= 0; i = whole.indexOf('RF', i + 1)) {
    const piece = whole.slice(i, i + REFERENCE_LENGTH);
    if (piece.length === REFERENCE_LENGTH && piece !== whole) pieces.push(piece);
  }
  const exact = new Set(pieces.filter(isValidReference));
  if (exact.size > 0) return [...exact].map((reference) => ({ reference, corrected: false }));
  const repaired = new Set<string>();
  for (const piece of pieces) {
    for (let i = 0; i + 1 < piece.length; i++) {
      if (piece[i] === piece[i + 1]) continue;
      const swapped = `${piece.slice(0, i)}${piece[i + 1]}${piece[i]}${piece.slice(i + 2)}`;
      if (isValidReference(swapped)) repaired.add(swapped);
    }
  }
  return [...repaired].map((reference) => ({ reference, corrected: true }));
}
