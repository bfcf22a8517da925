import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { currencyExponent } from '../domain/money';
import { applyMargin, convertMinor, settlementShare } from '../fx/convert';
import type { RateTable } from '../fx/rates';
import { DEFAULT_STATIC_RATES, ECB_MAX_AGE_HOURS, FxDecimal, StaticRateSource, crossRate, isStale, parseEcbDaily, parseStaticRates } from '../fx/rates';

const ECB_XML = readFileSync(path.join(__dirname, 'fixtures', 'eurofxref-daily.xml'), 'utf8');
const FETCHED = new Date('2026-11-27T15:30:00Z');
const HOUR = 3_600_000;

/** The rate the fixture file itself lists for a currency, read independently of the parser. */
function fixtureRate(code: string): string {
  const match = new RegExp(`currency='${code}' rate='([^']+)'`).exec(ECB_XML);
  if (!match?.[1]) throw new Error(`fixture has no ${code}`);
  return match[1];
}

function exp(code: string): number {
  const digits = currencyExponent(code);
  if (digits === undefined) throw new Error(`no exponent for ${code}`);
  return digits;
}

function errorOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return String(error);
  }
  return 'no error';
}

const inverse = (rate: string) => new FxDecimal(1).div(rate).toFixed();
const pow10 = (n: number) => new FxDecimal(10).pow(n);

// Zero-, two-, three- and four-decimal currencies, and the two where Intl and ISO 4217 disagree.
const CURRENCIES = ['EUR', 'USD', 'HKD', 'JPY', 'KRW', 'KWD', 'BHD', 'HUF', 'IDR', 'CLF'] as const;
const currency = fc.constantFrom(...CURRENCIES);

describe('convertMinor', () => {
  test('round trip A→B→A at the inverse rate drifts by at most half a B minor unit (in A units), plus rounding', () => {
    // b = a·r·10^(eB−eA) + ε1 and back = b·r'·10^(eA−eB) + ε2 with |ε| ≤ ½ (half-even), so
    // back − a = a(r·r' − 1) + ε1·k + ε2 where k = r'·10^(eA−eB) is one B minor unit in A minor units:
    // |back − a| ≤ ½k + ½ + a|r·r' − 1|, i.e. 2|back − a| ≤ k + 1 + 2a|r·r' − 1|.
    const rate = fc.tuple(fc.integer({ min: 1000, max: 999_999 }), fc.integer({ min: 3, max: 9 })).map(([m, s]) => new FxDecimal(m).div(pow10(s)).toFixed());
    fc.assert(
      fc.property(currency, currency, rate, fc.integer({ min: 0, max: 100_000_000 }), (a, b, r, amount) => {
        const back = convertMinor(convertMinor(amount, a, b, r), b, a, inverse(r));
        const k = new FxDecimal(inverse(r)).times(pow10(exp(a) - exp(b)));
        const drift = new FxDecimal(amount).times(new FxDecimal(r).times(inverse(r)).minus(1).abs());
        expect(new FxDecimal(2 * Math.abs(back - amount)).lte(k.plus(1).plus(drift.times(2)))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test('round trip is within one minor unit when a B minor unit is worth no more than an A minor unit', () => {
    // r·10^(eB−eA) = f ≥ 1 makes k ≤ 1, so the bound above is ≤ 1.
    const factor = fc.integer({ min: 1000, max: 9_999_999 }).map((n) => new FxDecimal(n).div(1000));
    fc.assert(
      fc.property(currency, currency, factor, fc.integer({ min: 0, max: 100_000_000 }), (a, b, f, amount) => {
        const r = f.times(pow10(exp(a) - exp(b))).toFixed();
        const back = convertMinor(convertMinor(amount, a, b, r), b, a, inverse(r));
        expect(Math.abs(back - amount)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 500 },
    );
    // Real pairs: EUR→HKD→EUR, and USD→JPY→USD (one yen ≈ 0.6 cent is finer than a cent).
    const table = parseEcbDaily(ECB_XML, FETCHED);
    const pairs = [['EUR', 'HKD', crossRate(table, 'EUR', 'HKD')], ['USD', 'JPY', crossRate(table, 'USD', 'JPY')], ['EUR', 'KWD', '0.3312']] as const;
    for (const [a, b, r = ''] of pairs) {
      for (const amount of [1, 99, 12_345, 99_999_999_999]) {
        expect(Math.abs(convertMinor(convertMinor(amount, a, b, r), b, a, inverse(r)) - amount)).toBeLessThanOrEqual(1);
      }
    }
  });

  test('a coarser target loses more than one minor unit on the way back, within the bound', () => {
    const table = parseEcbDaily(ECB_XML, FETCHED);
    const krwToUsd = crossRate(table, 'KRW', 'USD') ?? '';
    // 7 KRW ≈ 0.5 cent rounds to 0 cents, and comes back as 0 KRW; one cent is ≈ 14 KRW so ±7 is the bound.
    expect(convertMinor(7, 'KRW', 'USD', krwToUsd)).toBe(0);
    expect(convertMinor(0, 'USD', 'KRW', inverse(krwToUsd))).toBe(0);
    expect(convertMinor(8, 'KRW', 'USD', krwToUsd)).toBe(1);
    expect(convertMinor(1, 'USD', 'KRW', inverse(krwToUsd))).toBe(14);
  });

  test('minor units come from ISO 4217: 0 (JPY, KRW), 3 (KWD, BHD), and 2 for HUF and IDR where Intl shows 0', () => {
    expect(convertMinor(1000, 'EUR', 'HUF', '400')).toBe(400_000); // 10.00 EUR = 4 000.00 HUF
    expect(convertMinor(400_000, 'HUF', 'EUR', '0.0025')).toBe(1000);
    expect(convertMinor(1000, 'EUR', 'IDR', '17245.66')).toBe(17_245_660); // 172 456.60 IDR
    expect(convertMinor(1000, 'EUR', 'JPY', '162.35')).toBe(1624); // 1 623.5 JPY, tie → even
    expect(convertMinor(1000, 'EUR', 'KRW', '1521.37')).toBe(15_214);
    expect(convertMinor(1000, 'EUR', 'KWD', '0.3312')).toBe(3312); // 3.312 KWD
    expect(convertMinor(1000, 'EUR', 'BHD', '0.4062')).toBe(4062);
    expect(convertMinor(1000, 'JPY', 'KWD', '0.0020401')).toBe(2040); // 2.0401 KWD → 2.040
    expect(convertMinor(3312, 'KWD', 'KRW', '4593.5')).toBe(15_214); // 3.312 × 4593.5 = 15 213.672
    expect(convertMinor(1, 'EUR', 'EUR', '1')).toBe(1);
  });

  test('ties round half-even, up and down, with and without an exponent change', () => {
    expect(convertMinor(1, 'EUR', 'USD', '1.5')).toBe(2); // 1.5 → 2
    expect(convertMinor(3, 'EUR', 'USD', '1.5')).toBe(4); // 4.5 → 4
    expect(convertMinor(10, 'EUR', 'USD', '1.25')).toBe(12); // 12.5 → 12
    expect(convertMinor(10, 'EUR', 'USD', '1.35')).toBe(14); // 13.5 → 14
    expect(convertMinor(5, 'JPY', 'EUR', '0.001')).toBe(0); // 0.5 cent → 0
    expect(convertMinor(15, 'JPY', 'EUR', '0.001')).toBe(2); // 1.5 cents → 2
    expect(convertMinor(25, 'JPY', 'EUR', '0.001')).toBe(2); // 2.5 cents → 2
    // Exact decimal arithmetic: as floats 10 × 1.15 is 11.499999999999998, which would round to 11.
    expect(convertMinor(10, 'EUR', 'USD', '1.15')).toBe(12);
    expect(convertMinor(99_999_999_999, 'USD', 'EUR', '1.00000000000000000005')).toBe(99_999_999_999);
    expect(convertMinor(99_999_999_999, 'USD', 'EUR', '0.5')).toBe(50_000_000_000); // 49 999 999 999.5 → even
  });

  test('refuses unknown currencies, non-decimal or non-positive rates, non-integer amounts and unsafe results', () => {
    expect(() => convertMinor(100, 'EUR', 'ABC', '1')).toThrow(RangeError);
    expect(() => convertMinor(100, 'XTS', 'EUR', '1')).toThrow(RangeError);
    for (const rate of ['0', '0.000', '-1', '1e3', ' 1', '1.', '.5', 'NaN', '0x10', '']) {
      expect(() => convertMinor(100, 'EUR', 'USD', rate)).toThrow(RangeError);
    }
    for (const amount of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => convertMinor(amount, 'EUR', 'USD', '1')).toThrow(RangeError);
    }
    expect(() => convertMinor(Number.MAX_SAFE_INTEGER, 'EUR', 'USD', '1.01')).toThrow(RangeError);
    expect(() => convertMinor(1_000_000_000_000_000, 'EUR', 'KWD', '1')).toThrow(RangeError);
    expect(convertMinor(Number.MAX_SAFE_INTEGER, 'EUR', 'USD', '1')).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('applyMargin', () => {
  test('the merchant gets mid less the margin, exactly', () => {
    expect(applyMargin('1.0812', 0)).toBe('1.0812');
    expect(applyMargin('1.08120', 0)).toBe('1.0812');
    expect(applyMargin('1.0812', 100)).toBe('1.070388'); // × 0.99
    expect(applyMargin('8.4432', 250)).toBe('8.23212'); // × 0.975
    expect(applyMargin('162.35', 1000)).toBe('146.115'); // × 0.9
    expect(applyMargin('0.000007106', 1)).toBe('0.0000071052894');
    expect(applyMargin('200', 500)).toBe('190');
  });

  test('a margin never gives the merchant more than converting at mid', () => {
    const mid = fc.tuple(fc.integer({ min: 1, max: 999_999_999 }), fc.integer({ min: 0, max: 12 })).map(([m, s]) => new FxDecimal(m).div(pow10(s)).toFixed());
    fc.assert(
      fc.property(mid, fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1_000_000 }), (rate, bps, amount) => {
        const margined = applyMargin(rate, bps);
        expect(new FxDecimal(margined).equals(new FxDecimal(rate).times(10_000 - bps).div(10_000))).toBe(true);
        expect(convertMinor(amount, 'EUR', 'USD', margined)).toBeLessThanOrEqual(convertMinor(amount, 'EUR', 'USD', rate));
      }),
    );
  });

  test('refuses margins outside 0..1000 bps or fractional, and bad rates', () => {
    for (const bps of [-1, 1001, 2.5, Number.NaN]) expect(() => applyMargin('1.08', bps)).toThrow(RangeError);
    for (const rate of ['0', '-1.08', '1e2', 'abc']) expect(() => applyMargin(rate, 100)).toThrow(RangeError);
  });
});

describe('settlementShare', () => {
  /** Splits `total` into pieces (some may be 0) at the given cut points. */
  function split(total: number, cuts: number[]): number[] {
    const points = cuts.map((c) => c % (total + 1)).sort((x, y) => x - y);
    return [...points, total].map((p, i) => p - (i === 0 ? 0 : (points[i - 1] ?? 0)));
  }

  /** Runs moves through settlementShare, checking each share; returns the settled sum. */
  function run(totalMinor: number, settledTotal: number, moves: number[]): number {
    let moved = 0;
    let settled = 0;
    for (const amountMinor of moves) {
      const share = settlementShare({ amountMinor, totalMinor, settledTotal, alreadyMoved: moved, alreadyMovedSettled: settled });
      expect(Number.isSafeInteger(share) && share >= 0).toBe(true);
      moved += amountMinor;
      settled += share;
      expect(settled).toBeLessThanOrEqual(settledTotal);
      // The running total is settledTotal × moved / totalMinor rounded: never off by more than half a unit.
      expect(2n * abs(BigInt(settled) * BigInt(totalMinor) - BigInt(settledTotal) * BigInt(moved))).toBeLessThanOrEqual(BigInt(totalMinor));
    }
    return settled;
  }
  const abs = (n: bigint) => (n < 0n ? -n : n);

  test('any captures then refunds: shares ≥ 0, never more than settledTotal, exact when everything moves', () => {
    const cuts = fc.array(fc.nat({ max: 1_000_000_000 }), { maxLength: 12 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000_000 }),
        fc.integer({ min: 0, max: 1_000_000_000 }),
        fc.boolean(),
        fc.nat({ max: 1_000_000_000 }),
        cuts,
        fc.boolean(),
        fc.nat({ max: 1_000_000_000 }),
        cuts,
        (totalMinor, settledTotal, captureAll, partialCapture, captureCuts, refundAll, partialRefund, refundCuts) => {
          const captured = captureAll ? totalMinor : partialCapture % (totalMinor + 1);
          const capturedSettled = run(totalMinor, settledTotal, split(captured, captureCuts));
          if (captured === totalMinor) expect(capturedSettled).toBe(settledTotal);
          // Refunds keep their own history against the same totals, limited to what was captured.
          const refunded = refundAll ? captured : partialRefund % (captured + 1);
          const refundedSettled = run(totalMinor, settledTotal, split(refunded, refundCuts));
          expect(refundedSettled).toBeLessThanOrEqual(capturedSettled);
          if (refunded === captured) expect(refundedSettled).toBe(capturedSettled);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('the last move takes exactly the remainder; ties round half-even', () => {
    // 5 settled over 2: the first half is 2.5 → 2, the second gets the remaining 3.
    expect(settlementShare({ amountMinor: 1, totalMinor: 2, settledTotal: 5, alreadyMoved: 0, alreadyMovedSettled: 0 })).toBe(2);
    expect(settlementShare({ amountMinor: 1, totalMinor: 2, settledTotal: 5, alreadyMoved: 1, alreadyMovedSettled: 2 })).toBe(3);
    expect(settlementShare({ amountMinor: 1, totalMinor: 2, settledTotal: 7, alreadyMoved: 0, alreadyMovedSettled: 0 })).toBe(4); // 3.5 → 4
    // Three equal thirds of 100: 33, 34 (cumulative 66.67 → 67), 33.
    const shares = [0, 1, 2].map((i) => settlementShare({ amountMinor: 1, totalMinor: 3, settledTotal: 100, alreadyMoved: i, alreadyMovedSettled: [0, 33, 67][i] ?? 0 }));
    expect(shares).toEqual([33, 34, 33]);
    // A history that moved less catches up on the completing move.
    expect(settlementShare({ amountMinor: 1, totalMinor: 2, settledTotal: 5, alreadyMoved: 1, alreadyMovedSettled: 1 })).toBe(4);
  });

  test('refuses moving past the total, negative or fractional inputs, and a history holding more than its allocation', () => {
    const base = { amountMinor: 1, totalMinor: 10, settledTotal: 100, alreadyMoved: 0, alreadyMovedSettled: 0 };
    expect(() => settlementShare({ ...base, amountMinor: 11 })).toThrow(RangeError);
    expect(() => settlementShare({ ...base, alreadyMoved: 10, alreadyMovedSettled: 100 })).toThrow(RangeError);
    expect(() => settlementShare({ ...base, totalMinor: 0, amountMinor: 0 })).toThrow(RangeError);
    expect(() => settlementShare({ ...base, amountMinor: -1 })).toThrow(RangeError);
    expect(() => settlementShare({ ...base, settledTotal: 1.5 })).toThrow(RangeError);
    expect(() => settlementShare({ ...base, alreadyMoved: 1, alreadyMovedSettled: 21 })).toThrow(RangeError);
    expect(settlementShare({ ...base, amountMinor: 10 })).toBe(100);
    expect(settlementShare({ ...base, amountMinor: 0 })).toBe(0);
  });
});

describe('ECB daily feed', () => {
  test('parses the reference rates; a currency that left the feed (BGN) is simply absent', () => {
    const table = parseEcbDaily(ECB_XML, FETCHED);
    expect(table).toMatchObject({ base: 'EUR', asOf: '2026-11-27', fetchedAt: '2026-11-27T15:30:00.000Z', source: 'ecb' });
    expect(Object.keys(table.rates)).toHaveLength(29);
    expect(table.rates.USD).toBe('1.0812');
    expect(table.rates.GBP).toBe('0.84215');
    expect(table.rates.BGN).toBeUndefined();
    expect(crossRate(table, 'BGN', 'EUR')).toBeUndefined();
    expect(Object.isFrozen(table.rates)).toBe(true);
  });

  test('cross rates go through the euro', () => {
    const table = parseEcbDaily(ECB_XML, FETCHED);
    expect(new FxDecimal(crossRate(table, 'EUR', 'HKD') ?? '0').equals(fixtureRate('HKD'))).toBe(true);
    expect(new FxDecimal(crossRate(table, 'HKD', 'EUR') ?? '0').times(fixtureRate('HKD')).minus(1).abs().lt('1e-19')).toBe(true);
    const usdJpy = new FxDecimal(crossRate(table, 'USD', 'JPY') ?? '0');
    const expected = new FxDecimal(fixtureRate('JPY')).div(fixtureRate('USD'));
    expect(usdJpy.div(expected).minus(1).abs().lte('1e-12')).toBe(true);
    expect(usdJpy.toNumber()).toBeCloseTo(150.1572, 4); // JPY per USD, not USD per JPY
    expect(crossRate(table, 'JPY', 'JPY')).toBe('1');
    expect(crossRate(table, 'eur', 'EUR')).toBe('1');
    expect(crossRate(table, 'usd', 'jpy')).toBe(crossRate(table, 'USD', 'JPY'));
    expect(crossRate(table, 'EUR', 'KWD')).toBeUndefined(); // not published by the ECB
    expect(crossRate(table, 'XYZ', 'XYZ')).toBeUndefined();
    expect(crossRate(table, 'USD', 'toString')).toBeUndefined();
  });

  test('accepts double quotes; ignores codes our ISO table does not know (HRK)', () => {
    const withHrk = ECB_XML.replace("<Cube currency='USD'", "<Cube currency='HRK' rate='7.5345'/>\n\t\t\t<Cube currency='USD'");
    const table = parseEcbDaily(withHrk, FETCHED);
    expect(table.rates.HRK).toBeUndefined();
    expect(Object.keys(table.rates)).toHaveLength(29);
    expect(parseEcbDaily(ECB_XML.replace(/'/g, '"'), FETCHED).rates).toEqual(table.rates);
  });

  test('malformed documents throw', () => {
    const broken = {
      empty: '',
      truncated: ECB_XML.slice(0, ECB_XML.length / 2),
      'error page': '<html><body>503 Service Unavailable</body></html>',
      'no dated Cube': ECB_XML.replace(/<Cube time='[^']*'>[\s\S]*?<\/Cube>/, ''),
      'no rates': ECB_XML.replace(/<Cube currency[^>]*\/>\s*/g, ''),
      'only unknown codes': ECB_XML.replace(/<Cube currency[^>]*\/>\s*/g, '').replace(/(<Cube time='[^']*'>)/, "$1<Cube currency='HRK' rate='7.5'/>"),
      'bad date': ECB_XML.replace('2026-11-27', '2026-02-30'),
      'bad rate': ECB_XML.replace("rate='1.0812'", "rate='1,0812'"),
      'negative rate': ECB_XML.replace("rate='1.0812'", "rate='-1.0812'"),
      'duplicate currency': ECB_XML.replace("currency='JPY'", "currency='USD'"),
      'two days (90-day file)': ECB_XML.replace(/(<Cube time='[^']*'>[\s\S]*?<\/Cube>)/, '$1$1'),
      'stray content': ECB_XML.replace("<Cube currency='USD'", "junk<Cube currency='USD'"),
    };
    for (const [name, xml] of Object.entries(broken)) {
      expect({ name, error: errorOf(() => parseEcbDaily(xml, FETCHED)) }).toEqual({ name, error: expect.stringMatching(/^Error: ECB feed: /) });
    }
    expect(() => parseEcbDaily(ECB_XML, new Date(Number.NaN))).toThrow(RangeError);
  });

  test('stale after maxAgeHours since fetchedAt; static tables never', () => {
    const table = parseEcbDaily(ECB_XML, FETCHED);
    expect(isStale(table, new Date(FETCHED.getTime() + 100 * HOUR), ECB_MAX_AGE_HOURS)).toBe(true);
    expect(isStale(table, new Date(FETCHED.getTime() + 95 * HOUR), ECB_MAX_AGE_HOURS)).toBe(false);
    expect(isStale(table, new Date(FETCHED.getTime() + 96 * HOUR), 96)).toBe(false);
    expect(isStale(table, new Date(FETCHED.getTime() + 96 * HOUR + 1), 96)).toBe(true);
    expect(isStale({ ...table, fetchedAt: 'yesterday' }, FETCHED, 96)).toBe(true);
    const old = parseStaticRates('USD=1.08', new Date('2016-01-01T00:00:00Z'));
    expect(isStale(old, new Date('2026-11-27T00:00:00Z'), 96)).toBe(false);
    expect(() => isStale(table, FETCHED, 0)).toThrow(RangeError);
  });
});

describe('static rates', () => {
  test('parses the configuration format, dated by asOf= or else by now', () => {
    const now = new Date('2026-12-01T08:00:00Z');
    const table: RateTable = parseStaticRates('USD=1.0812, HKD=8.4432,CNY=7.8531,jpy=162.35', now);
    expect(table).toEqual({ base: 'EUR', asOf: '2026-12-01', fetchedAt: '2026-12-01T08:00:00.000Z', source: 'static', rates: { USD: '1.0812', HKD: '8.4432', CNY: '7.8531', JPY: '162.35' } });
    expect(parseStaticRates('asOf=2026-11-27,USD=1.0812', now).asOf).toBe('2026-11-27');
    expect(crossRate(table, 'USD', 'HKD')).toBe('7.8091009988901220866');
  });

  test('errors name the bad entry', () => {
    const now = new Date();
    const cases: Array<[string, RegExp]> = [
      ['USD=1.08,ABC=2', /entry 2 "ABC=2": unknown currency ABC/],
      ['USD=1.08,XTS=1', /entry 2 "XTS=1": unknown currency/],
      ['USD=0', /entry 1 "USD=0": rate "0" must be positive/],
      ['USD=1.08,GBP=-0.84', /entry 2 "GBP=-0.84": rate "-0.84" must be positive/],
      ['JPY=1e3', /entry 1 "JPY=1e3": rate "1e3" is not a decimal/],
      ['JPY=abc', /entry 1 "JPY=abc": rate "abc" is not a decimal/],
      ['USD=1.08,USD=1.09', /entry 2 "USD=1.09": USD given twice/],
      ['EUR=1', /entry 1 "EUR=1": EUR is the base/],
      ['USD=1.08,,JPY=162', /entry 2 "": expected CODE=rate/],
      ['USD 1.08', /entry 1 "USD 1.08": expected CODE=rate/],
      ['asOf=27.11.2026,USD=1', /entry 1 "asOf=27.11.2026": asOf must be a YYYY-MM-DD date/],
      ['asOf=2026-11-27', /no currencies configured/],
    ];
    for (const [spec, message] of cases) expect(() => parseStaticRates(spec, now)).toThrow(message);
  });

  test('the embedded default is a dated, ECB-shaped table and StaticRateSource serves it', async () => {
    const table = parseStaticRates(DEFAULT_STATIC_RATES, new Date());
    expect(table.asOf).toBe('2026-11-27');
    for (const code of ['USD', 'GBP', 'CHF', 'JPY', 'CNY', 'HKD', 'SGD', 'AUD', 'CAD', 'KRW', 'HUF', 'IDR', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK', 'THB', 'INR', 'BRL', 'MXN', 'ZAR']) {
      expect([code, table.rates[code]]).toEqual([code, expect.stringMatching(/^\d+\.\d+$/)]);
    }
    expect(table.rates.KWD).toBeUndefined(); // the ECB publishes none
    expect(table.rates.BGN).toBeUndefined(); // left the feed with Bulgaria's euro adoption
    expect(table.rates).toEqual(parseEcbDaily(ECB_XML, FETCHED).rates);
    expect((await new StaticRateSource().current()).rates).toEqual(table.rates);
    const custom = parseStaticRates('USD=1.1', new Date());
    await expect(new StaticRateSource(custom).current()).resolves.toBe(custom);
  });
});
