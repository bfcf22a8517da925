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

/**
 * The reference a payer meant: as typed when it checks; otherwise the one reference that a
 * single swap of two adjacent characters would make valid. Undefined when there is none, or
 * more than one (better unmatched than credited to the wrong payment).
 */
export function intendedReference(text: string): string | undefined {
  const ref = normalize(text);
  if (isValidReference(ref)) return ref;
  const candidates = new Set<string>();
  for (let i = 0; i + 1 < ref.length; i++) {
    if (ref[i] === ref[i + 1]) continue;
    const swapped = `${ref.slice(0, i)}${ref[i + 1]}${ref[i]}${ref.slice(i + 2)}`;
    if (isValidReference(swapped)) candidates.add(swapped);
  }
  return candidates.size === 1 ? [...candidates][0] : undefined;
}

/** Our references are `RF` + 2 check digits + the body. */
const REFERENCE_LENGTH = 4 + BODY_LENGTH;

/**
 * The reference a payer's free text carries ("Invoice 12, RF18 5390 0754 7034"): the whole text
 * when it is one, else the one reference-shaped piece of it that checks (or a swap repairs).
 * `corrected` when a swap had to be undone.
 */
export function referenceIn(text: string): { reference: string; corrected: boolean } | undefined {
  const whole = normalize(text);
  const direct = intendedReference(whole);
  if (direct) return { reference: direct, corrected: direct !== whole };
  const found = new Map<string, boolean>();
  for (let i = whole.indexOf('RF'); i >= 0; i = whole.indexOf('RF', i + 1)) {
    const piece = whole.slice(i, i + REFERENCE_LENGTH);
    const meant = piece.length === REFERENCE_LENGTH ? intendedReference(piece) : undefined;
    if (meant) found.set(meant, meant !== piece);
  }
  if (found.size !== 1) return undefined;
  const [reference, corrected] = [...found][0]!;
  return { reference, corrected };
}
