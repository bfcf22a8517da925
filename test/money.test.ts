import { currencyExponent, isKnownCurrency, toMajorUnitString } from '../domain/money';

test('minor-unit exponents come from ISO 4217, not Intl (which disagrees for HUF and IDR)', () => {
  expect(currencyExponent('JPY')).toBe(0);
  expect(currencyExponent('usd')).toBe(2);
  expect(currencyExponent('KWD')).toBe(3);
  expect(currencyExponent('HUF')).toBe(2);
  expect(currencyExponent('IDR')).toBe(2);
  expect(currencyExponent('CLF')).toBe(4);
  expect(currencyExponent('XTS')).toBeUndefined(); // testing code: not money
  expect(isKnownCurrency('ABC')).toBe(false);
});

test('major-unit strings are exact, never through floats', () => {
  expect(toMajorUnitString(1234, 'USD')).toBe('12.34');
  expect(toMajorUnitString(5, 'USD')).toBe('0.05');
  expect(toMajorUnitString(1001, 'KWD')).toBe('1.001');
  expect(toMajorUnitString(500, 'JPY')).toBe('500');
  expect(toMajorUnitString(99_999_999_999, 'CNY')).toBe('999999999.99');
});
