import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseCamt053, parseStatement, parseStatementCsv, StatementError, type StatementLine } from '../bank/statement';
import { toMajorUnitString } from '../domain/money';

const fixture = (name: string) => readFileSync(join(__dirname, 'fixtures', 'bank', name), 'utf8');

function failure(parse: () => unknown): StatementError {
  try {
    parse();
  } catch (error) {
    if (error instanceof StatementError) return error;
    throw error;
  }
  throw new Error('expected a StatementError');
}

const noPayer = { name: null, account: null, bank_code: null };

// ---------------------------------------------------------------- camt.053 builders

type EntryParts = { ref: string; amt: string; ind: string; extra: string; sts: string; dates: string; ids: string; details: string };

function entry(parts: Partial<EntryParts> = {}): string {
  const p: EntryParts = {
    ref: '', amt: '<Amt Ccy="EUR">10.00</Amt>', ind: 'CRDT', extra: '', sts: '<Sts>BOOK</Sts>',
    dates: '<BookgDt><Dt>2024-05-02</Dt></BookgDt><ValDt><Dt>2024-05-03</Dt></ValDt>',
    ids: '<AcctSvcrRef>ASR-1</AcctSvcrRef>', details: '', ...parts,
  };
  return `<Ntry>${p.ref}${p.amt}<CdtDbtInd>${p.ind}</CdtDbtInd>${p.extra}${p.sts}${p.dates}${p.ids}${p.details}</Ntry>`;
}

const tx = (body: string) => `<TxDtls>${body}</TxDtls>`;
const details = (...txs: string[]) => `<NtryDtls>${txs.join('')}</NtryDtls>`;

function camt(statements: string[][], version = '04'): string {
  const stmts = statements.map((entries, i) => `<Stmt><Id>S${i + 1}</Id><CreDtTm>2024-05-03T06:00:00</CreDtTm>
    <Acct><Id><IBAN>DE44500105175407324931</IBAN></Id></Acct>${entries.join('\n')}</Stmt>`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.${version}">
  <BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-05-03T06:00:00</CreDtTm></GrpHdr>${stmts.join('\n')}</BkToCstmrStmt>
</Document>`;
}

const one = (...entries: string[]) => parseCamt053(camt([entries]));

// ---------------------------------------------------------------- camt.053

describe('camt.053', () => {
  test('a v02 statement: booked credits and the payout, batch split per transaction, pending and reversed entries left out', () => {
    expect(parseCamt053(fixture('camt053.001.02.xml'))).toEqual<StatementLine[]>([
      {
        direction: 'credit', credit_id: '2024031500001', value_date: '2024-03-15', amount: 123456, currency: 'EUR',
        reference: 'RF18539007547034', // structured reference wins over the Ustrd next to it
        payer: { name: 'Müller & Söhne GmbH', account: 'DE89370400440532013000', bank_code: 'COBADEFFXXX' },
      },
      {
        direction: 'credit', credit_id: 'TX-77001', value_date: '2024-03-15', amount: 10000, currency: 'EUR',
        reference: 'RF47000000000001',
        payer: { name: 'Jane Doe', account: 'FR7630006000011234567890189', bank_code: 'AGRIFRPP' },
      },
      {
        direction: 'credit', credit_id: '2024031500002:2', value_date: '2024-03-15', amount: 20000, currency: 'EUR',
        reference: 'Invoice 2024-0042',
        payer: { name: 'Acme Ltd', account: 'NL91ABNA0417164300', bank_code: null },
      },
      {
        direction: 'credit', credit_id: 'NREF-0003', value_date: '2024-03-15', amount: 4990, currency: 'EUR',
        reference: 'Payment RF18 5390 0754 7034 thanks',
        payer: { name: 'Erika Mustermann', account: '0532013000', bank_code: 'BYLADEM1001' },
      },
      {
        direction: 'debit', credit_id: '2024031500004', value_date: '2024-03-14', amount: 50000, currency: 'EUR',
        reference: 'Payout po_8f2k1',
        payer: { name: 'Supplier SARL', account: 'FR1420041010050500013M02606', bank_code: 'PSSTFRPPLIL' },
      },
      {
        direction: 'credit', credit_id: 'JP20240315-0007', value_date: '2024-03-15', amount: 15000, currency: 'JPY',
        reference: null, payer: noPayer,
      },
    ]);
  });

  test('a v08 statement with a namespace prefix, Sts/Cd, Pty/Nm, BICFI and KWD (3 decimals)', () => {
    expect(parseCamt053(fixture('camt053.001.08.xml'))).toEqual<StatementLine[]>([
      {
        direction: 'credit', credit_id: 'CBK-TX-5531', value_date: '2024-04-02', amount: 12345, currency: 'KWD',
        reference: 'RF97000000001234',
        payer: { name: 'Al Noor Trading Co.', account: 'KW31NBOK0000000000002010177457', bank_code: 'NBOKKWKW' },
      },
      {
        direction: 'debit', credit_id: 'CBK-240402-000982', value_date: '2024-04-02', amount: 250000, currency: 'KWD',
        reference: 'Payout po_kw_77',
        payer: { name: 'Gulf Logistics W.L.L.', account: 'KW21GULB0000000000000000183924', bank_code: 'GULBKWKW' },
      },
    ]);
  });

  test('every version from .02 to .13 reads the same, whatever the namespace or its prefix', () => {
    const expected: StatementLine = {
      direction: 'credit', credit_id: 'ASR-1', value_date: '2024-05-03', amount: 1000, currency: 'EUR', reference: null, payer: noPayer,
    };
    for (let v = 2; v <= 13; v++) {
      const version = String(v).padStart(2, '0');
      const plain = camt([[entry()]], version);
      expect(parseCamt053(plain)).toEqual([expected]);
      const prefixed = plain.replace(/<(\/?)(\w+)/g, '<$1c:$2').replace('xmlns=', 'xmlns:c=');
      expect(parseCamt053(prefixed)).toEqual([expected]);
    }
    expect(parseCamt053(camt([[entry()]]).replace(/ xmlns="[^"]*"/, ''))).toEqual([expected]);
  });

  test('a statement inside a business message envelope is found', () => {
    const wrapped = `<BizMsgEnvlp><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><MsgDefIdr>camt.053.001.08</MsgDefIdr></AppHdr>
      ${camt([[entry()]], '08').replace(/<\?xml[^>]*>/, '')}</BizMsgEnvlp>`;
    expect(parseCamt053(wrapped).map((line) => line.credit_id)).toEqual(['ASR-1']);
  });

  test('entries of every statement in the document, in order', () => {
    const lines = parseCamt053(camt([
      [entry({ ids: '<AcctSvcrRef>A</AcctSvcrRef>' }), entry({ ids: '<AcctSvcrRef>B</AcctSvcrRef>' })],
      [],
      [entry({ ids: '<AcctSvcrRef>C</AcctSvcrRef>', amt: '<Amt Ccy="USD">1.00</Amt>' })],
    ]));
    expect(lines.map((line) => [line.credit_id, line.amount, line.currency])).toEqual([['A', 1000, 'EUR'], ['B', 1000, 'EUR'], ['C', 100, 'USD']]);
    expect(parseCamt053(camt([]))).toEqual([]);
  });

  test('only booked entries count; reversals are left out', () => {
    expect(one(entry({ sts: '<Sts>PDNG</Sts>' }), entry({ sts: '<Sts>INFO</Sts>' }), entry({ sts: '<Sts><Cd>PDNG</Cd></Sts>' }))).toEqual([]);
    expect(one(entry({ sts: '<Sts><Cd>BOOK</Cd></Sts>' }))).toHaveLength(1);
    expect(one(entry({ extra: '<RvslInd>true</RvslInd>' }), entry({ extra: '<RvslInd>1</RvslInd>', ind: 'DBIT' }))).toEqual([]);
    expect(one(entry({ extra: '<RvslInd>false</RvslInd>' }))).toHaveLength(1);
    // Skipped before they are read: a pending entry with no id or amount yet does not fail the file.
    expect(one(entry({ sts: '<Sts>PDNG</Sts>', ids: '', amt: '' }))).toEqual([]);
  });

  test('value date: ValDt/Dt, the date part of ValDt/DtTm, else the booking date', () => {
    const dated = (dates: string) => one(entry({ dates }))[0]?.value_date;
    expect(dated('<BookgDt><Dt>2024-05-02</Dt></BookgDt><ValDt><Dt>2024-05-03</Dt></ValDt>')).toBe('2024-05-03');
    expect(dated('<ValDt><DtTm>2024-05-04T23:59:59.999+02:00</DtTm></ValDt>')).toBe('2024-05-04');
    expect(dated('<BookgDt><Dt>2024-05-02</Dt></BookgDt>')).toBe('2024-05-02');
    expect(dated('<BookgDt><DtTm>2024-05-01T08:00:00Z</DtTm></BookgDt>')).toBe('2024-05-01');
    expect(failure(() => one(entry({ dates: '' })))).toMatchObject({ line: 1, message: expect.stringContaining('no value or booking date') });
    expect(failure(() => one(entry({ dates: '<ValDt><Dt>2024-02-30</Dt></ValDt>' })))).toMatchObject({ line: 1, message: expect.stringContaining('2024-02-30') });
  });

  test('transaction amounts: TxDtls/Amt or AmtDtls/TxAmt/Amt, else the entry amount for a single transaction', () => {
    const amounts = (...txs: string[]) => one(entry({ amt: '<Amt Ccy="EUR">30.00</Amt>', details: details(...txs) })).map((line) => line.amount);
    expect(amounts(tx('<Amt Ccy="EUR">12.34</Amt>'), tx('<AmtDtls><TxAmt><Amt Ccy="EUR">17.66</Amt></TxAmt></AmtDtls>'))).toEqual([1234, 1766]);
    expect(amounts(tx('<Refs><EndToEndId>E</EndToEndId></Refs>'))).toEqual([3000]);
    expect(amounts()).toEqual([3000]);
    const error = failure(() => one(entry(), entry({ ids: '<AcctSvcrRef>B</AcctSvcrRef>', details: details(tx('<Amt Ccy="EUR">1.00</Amt>'), tx('')) })));
    expect(error).toMatchObject({ line: 2, message: expect.stringContaining('transaction 2: no amount') });
  });

  test('the line id: TxDtls AcctSvcrRef, else the entry AcctSvcrRef, else NtryRef, numbered within a batch', () => {
    const ids = (ids: string, ...txs: string[]) => one(entry({ ids, details: txs.length ? details(...txs) : '' })).map((line) => line.credit_id);
    const amount = '<Amt Ccy="EUR">5.00</Amt>';
    expect(ids('<AcctSvcrRef>E1</AcctSvcrRef>')).toEqual(['E1']);
    expect(ids('<AcctSvcrRef>E1</AcctSvcrRef>', tx('<Refs><AcctSvcrRef>T1</AcctSvcrRef></Refs>'))).toEqual(['T1']);
    expect(ids('<AcctSvcrRef>E1</AcctSvcrRef>', tx(amount), tx(amount), tx(amount))).toEqual(['E1:1', 'E1:2', 'E1:3']);
    expect(ids('<AcctSvcrRef>E1</AcctSvcrRef>', tx(amount), tx(`<Refs><AcctSvcrRef>T2</AcctSvcrRef></Refs>${amount}`))).toEqual(['E1:1', 'T2']);
  });

  test('NtryRef stands in when the bank gives no AcctSvcrRef; ids keep their leading zeros', () => {
    const amount = '<Amt Ccy="EUR">5.00</Amt>';
    expect(one(entry({ ref: '<NtryRef>000123</NtryRef>', ids: '' }))[0]?.credit_id).toBe('000123');
    expect(one(entry({ ref: '<NtryRef>N7</NtryRef>', ids: '', details: details(tx(amount), tx(amount)) })).map((line) => line.credit_id))
      .toEqual(['N7:1', 'N7:2']);
  });

  test('a line without any bank id refuses the file, naming the entry (counted across statements)', () => {
    const doc = camt([[entry({ ids: '<AcctSvcrRef>A</AcctSvcrRef>' })], [entry({ sts: '<Sts>PDNG</Sts>' }), entry({ ids: '' })]]);
    expect(failure(() => parseCamt053(doc))).toMatchObject({ line: 3, message: expect.stringMatching(/^entry 3: no bank reference/) });
    const amount = '<Amt Ccy="EUR">5.00</Amt>';
    const batch = entry({ ids: '', details: details(tx(`<Refs><AcctSvcrRef>T1</AcctSvcrRef></Refs>${amount}`), tx(amount)) });
    expect(failure(() => one(batch))).toMatchObject({ line: 1, message: expect.stringContaining('transaction 2: no bank reference') });
  });

  test('two lines with one id refuse the file rather than one of them being dropped as already imported', () => {
    const error = failure(() => one(entry({ ids: '<AcctSvcrRef>X</AcctSvcrRef>' }), entry({ ids: '<AcctSvcrRef>Y</AcctSvcrRef>' }), entry({ ids: '<AcctSvcrRef>X</AcctSvcrRef>' })));
    expect(error).toMatchObject({ line: 3, message: "entry 3: id 'X' is also on entry 1" });
  });

  test('counterparty: the debtor of a credit, the creditor of a debit, in every place the versions put them', () => {
    const parties = `<RltdPties>
      <Dbtr><Nm>Payer Name</Nm></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct>
      <Cdtr><Pty><Nm>Payee Name</Nm></Pty></Cdtr><CdtrAcct><Id><Othr><Id>12345678</Id></Othr></Id></CdtrAcct>
    </RltdPties>
    <RltdAgts>
      <DbtrAgt><FinInstnId><BICFI>BYLADEM1001</BICFI></FinInstnId></DbtrAgt>
      <CdtrAgt><FinInstnId><ClrSysMmbId><MmbId>401160</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>
    </RltdAgts>`;
    const payer = (ind: string) => one(entry({ ind, details: details(tx(parties)) }))[0]?.payer;
    expect(payer('CRDT')).toEqual({ name: 'Payer Name', account: 'DE02120300000000202051', bank_code: 'BYLADEM1001' });
    expect(payer('DBIT')).toEqual({ name: 'Payee Name', account: '12345678', bank_code: '401160' });
    expect(one(entry({ details: details(tx('<RltdPties><Dbtr><Nm> </Nm></Dbtr></RltdPties>')) }))[0]?.payer).toEqual(noPayer);
  });

  test('remittance: structured creditor reference first, else every Ustrd joined with a space, else null', () => {
    const reference = (rmtInf: string) => one(entry({ details: details(tx(`<RmtInf>${rmtInf}</RmtInf>`)) }))[0]?.reference;
    expect(reference('<Ustrd>free text</Ustrd><Strd><CdtrRefInf><Ref> RF18539007547034 </Ref></CdtrRefInf></Strd>')).toBe('RF18539007547034');
    expect(reference('<Strd><RfrdDocInf><Nb>INV-1</Nb></RfrdDocInf></Strd><Strd><CdtrRefInf><Ref>RF47000000000001</Ref></CdtrRefInf></Strd>'))
      .toBe('RF47000000000001');
    expect(reference('<Ustrd>  Invoice 42 </Ustrd><Ustrd/><Ustrd>order pay_123</Ustrd>')).toBe('Invoice 42 order pay_123');
    expect(reference('<Strd><CdtrRefInf><Ref></Ref></CdtrRefInf></Strd><Ustrd>fallback</Ustrd>')).toBe('fallback');
    expect(reference('<Ustrd>   </Ustrd>')).toBeNull();
    expect(reference('<Ustrd>Tom &amp; Jerry &#x20AC;5 &lt;3</Ustrd>')).toBe('Tom & Jerry €5 <3');
  });

  test('amounts in exact minor units, by the currency exponent', () => {
    const amount = (amt: string) => one(entry({ amt }))[0]?.amount;
    expect(amount('<Amt Ccy="EUR">0.01</Amt>')).toBe(1);
    expect(amount('<Amt Ccy="EUR">19.9</Amt>')).toBe(1990);
    expect(amount('<Amt Ccy="EUR">1234567.89</Amt>')).toBe(123456789);
    expect(amount('<Amt Ccy="JPY">5000</Amt>')).toBe(5000);
    expect(amount('<Amt Ccy="KWD">1.234</Amt>')).toBe(1234);
    expect(amount('<Amt Ccy="KWD">0.5</Amt>')).toBe(500);
    expect(amount('<Amt Ccy="chf">2.50</Amt>')).toBe(250);
    expect(one(entry({ amt: '<Amt Ccy="chf">2.50</Amt>' }))[0]?.currency).toBe('CHF');
  });

  test.each([
    ['<Amt Ccy="EUR">10.001</Amt>', 'not an exact EUR amount'],
    ['<Amt Ccy="JPY">5.5</Amt>', 'not an exact JPY amount'],
    ['<Amt Ccy="KWD">1.2345</Amt>', 'not an exact KWD amount'],
    ['<Amt Ccy="EUR">0.00</Amt>', 'not positive'],
    ['<Amt Ccy="EUR">-5.00</Amt>', 'not positive'],
    ['<Amt Ccy="EUR">1,00</Amt>', "malformed amount '1,00'"],
    ['<Amt Ccy="EUR">1e3</Amt>', 'malformed amount'],
    ['<Amt Ccy="ABC">1.00</Amt>', "unknown currency 'ABC'"],
    ['<Amt Ccy="XTS">1.00</Amt>', "unknown currency 'XTS'"],
    ['<Amt>1.00</Amt>', 'without currency'],
    ['', 'no amount'],
  ])('amount %s is refused, naming the entry', (amt, message) => {
    const error = failure(() => one(entry({ ids: '<AcctSvcrRef>A</AcctSvcrRef>' }), entry({ amt })));
    expect(error.line).toBe(2);
    expect(error.message).toMatch(/^entry 2: /);
    expect(error.message).toContain(message);
  });

  test('an entry that is neither credit nor debit, or has no status, is refused', () => {
    expect(failure(() => one(entry({ ind: 'CRED' })))).toMatchObject({ line: 1, message: expect.stringContaining("'CRED' is neither CRDT nor DBIT") });
    expect(failure(() => one(entry({ sts: '' })))).toMatchObject({ line: 1, message: expect.stringContaining('no status') });
  });

  test('what is not a camt.053 statement is refused', () => {
    const report = camt([[entry()]]).replace(/BkToCstmrStmt/g, 'BkToCstmrAcctRpt').replace(/Stmt>/g, 'Rpt>');
    expect(failure(() => parseCamt053(report)).message).toMatch(/not a camt\.053 statement/);
    expect(failure(() => parseCamt053('<Envelope><Body/></Envelope>')).message).toMatch(/not a camt\.053 statement/);
    expect(failure(() => parseCamt053('credit_id,amount\n1,2')).message).toMatch(/not a camt\.053 statement|not well-formed/);
    expect(failure(() => parseCamt053(camt([[entry()]]).replace('</Stmt>', ''))).message).toMatch(/not well-formed XML at line \d+/);
    expect(failure(() => parseCamt053('')).message).toMatch(/not a camt\.053 statement|not well-formed/);
  });

  test('no DTD: external entities and entity expansion never get a chance', () => {
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
${camt([[entry({ details: details(tx('<RmtInf><Ustrd>&xxe;</Ustrd></RmtInf>')) })]]).replace(/<\?xml[^>]*>/, '')}`;
    expect(failure(() => parseCamt053(xxe)).message).toMatch(/DOCTYPE/);
    const laughs = `<!doctype lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
${camt([[entry({ details: details(tx('<RmtInf><Ustrd>&lol2;</Ustrd></RmtInf>')) })]]).replace(/<\?xml[^>]*>/, '')}`;
    expect(failure(() => parseCamt053(laughs)).message).toMatch(/DOCTYPE/);
    // Without a DTD an unknown entity is left as written, never looked up.
    const undeclared = one(entry({ details: details(tx('<RmtInf><Ustrd>&xxe; &amp;amp;</Ustrd></RmtInf>')) }));
    expect(undeclared[0]?.reference).toBe('&xxe; &amp;');
  });

  test('a byte order mark before the XML is fine', () => {
    expect(parseCamt053(`\uFEFF${camt([[entry()]])}`)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- CSV

const HEADER = 'credit_id,value_date,amount,currency';

describe('CSV', () => {
  test('the sample: BOM, CRLF, columns in any order and case, quotes, a quoted line break, blank lines and extra columns', () => {
    expect(parseStatementCsv(fixture('statement.csv'))).toEqual<StatementLine[]>([
      {
        direction: 'credit', credit_id: 'BNK-1001', value_date: '2024-03-15', amount: 123456, currency: 'EUR', reference: 'RF18539007547034',
        payer: { name: 'Müller, Hans', account: 'DE89370400440532013000', bank_code: 'COBADEFFXXX' },
      },
      {
        direction: 'credit', credit_id: 'BNK-1002', value_date: '2024-03-15', amount: 1000, currency: 'JPY', reference: 'Order "7781" paid',
        payer: { name: 'Tanaka Taro', account: null, bank_code: null },
      },
      {
        direction: 'credit', credit_id: 'BNK-1003', value_date: '2024-03-15', amount: 4990, currency: 'EUR', reference: 'Invoice 42\nsecond line',
        payer: noPayer,
      },
      {
        direction: 'debit', credit_id: 'BNK-1004', value_date: '2024-03-14', amount: 50000, currency: 'EUR', reference: 'Payout po_8f2k1',
        payer: { name: 'Supplier SARL', account: 'FR1420041010050500013M02606', bank_code: 'PSSTFRPPLIL' },
      },
    ]);
  });

  test('only the required columns; a header alone is an empty statement', () => {
    expect(parseStatementCsv(`${HEADER}\nB1,2024-01-31,7,KWD\n`)).toEqual<StatementLine[]>([
      { direction: 'credit', credit_id: 'B1', value_date: '2024-01-31', amount: 7000, currency: 'KWD', reference: null, payer: noPayer },
    ]);
    expect(parseStatementCsv(`${HEADER}\r\n`)).toEqual([]);
    expect(parseStatementCsv(HEADER)).toEqual([]);
  });

  test('amounts in exact minor units', () => {
    const amount = (value: string, currency: string) => parseStatementCsv(`${HEADER}\nB1,2024-01-31,${value},${currency}`)[0]?.amount;
    expect(amount('1234.56', 'EUR')).toBe(123456);
    expect(amount('0.10', 'USD')).toBe(10);
    expect(amount('"5000"', 'JPY')).toBe(5000);
    expect(amount('12.345', 'KWD')).toBe(12345);
    expect(amount('  3.5 ', 'EUR')).toBe(350);
    expect(amount('99999999.99', 'EUR')).toBe(9_999_999_999);
  });

  test.each([
    ['B2,2024-01-31,10.001,EUR,', 'not an exact EUR amount'],
    ['B2,2024-01-31,5.5,JPY,', 'not an exact JPY amount'],
    ['B2,2024-01-31,0,EUR,', 'not positive'],
    ['B2,2024-01-31,-1.00,EUR,', 'not positive'],
    ['B2,2024-01-31,"1,234.56",EUR,', "malformed amount '1,234.56'"],
    ['B2,2024-01-31,12.,EUR,', 'malformed amount'],
    ['B2,2024-01-31,.5,EUR,', 'malformed amount'],
    ['B2,2024-01-31,NaN,EUR,', 'malformed amount'],
    ['B2,2024-01-31,1.00,EUROS,', "unknown currency 'EUROS'"],
    ['B2,2024-01-31,1.00,,', 'currency is empty'],
    ['B2,2024-01-31,,EUR,', 'amount is empty'],
    [',2024-01-31,1.00,EUR,', 'credit_id is empty'],
    ['B2,,1.00,EUR,', 'value_date is empty'],
    ['B2,31/01/2024,1.00,EUR,', "value_date '31/01/2024' is not a YYYY-MM-DD date"],
    ['B2,2023-02-29,1.00,EUR,', 'is not a YYYY-MM-DD date'],
    ['B2,2024-01-31,1.00,EUR,refund', "direction 'refund' is neither credit nor debit"],
  ])('%s is refused, naming its line', (row, message) => {
    const text = `${HEADER},direction\r\nB1,2024-01-31,1.00,EUR,\r\n${row}\r\n`;
    const error = failure(() => parseStatementCsv(text));
    expect(error.line).toBe(3);
    expect(error.message).toMatch(/^line 3: /);
    expect(error.message).toContain(message);
  });

  test('line numbers are the physical lines, past blank lines and quoted line breaks', () => {
    const text = `${HEADER},reference\r\nB1,2024-01-31,1.00,EUR,"two\r\nlines"\r\n\r\nB2,2024-01-31,1.00,EUR,"three\nshort\nlines"\nB3,2024-01-31,oops,EUR,\n`;
    expect(failure(() => parseStatementCsv(text))).toMatchObject({ line: 8, message: expect.stringMatching(/^line 8: malformed amount/) });
  });

  test('direction defaults to credit and is case-insensitive', () => {
    const directions = parseStatementCsv(`${HEADER},Direction\nB1,2024-01-31,1,EUR,\nB2,2024-01-31,1,EUR,Debit\nB3,2024-01-31,1,EUR,CREDIT\n`)
      .map((line) => line.direction);
    expect(directions).toEqual(['credit', 'debit', 'credit']);
  });

  test('the header: required columns present, none twice', () => {
    expect(failure(() => parseStatementCsv('credit_id,value_date,amount\nB1,2024-01-31,1'))).toMatchObject({ line: 1, message: 'line 1: missing column(s) currency' });
    expect(failure(() => parseStatementCsv(`${HEADER},Amount\nB1,2024-01-31,1,EUR,2`))).toMatchObject({ line: 1, message: "line 1: column 'amount' appears twice" });
    expect(failure(() => parseStatementCsv(''))).toMatchObject({ message: expect.stringContaining('header row is required') });
    expect(failure(() => parseStatementCsv('\uFEFF\r\n\r\n'))).toMatchObject({ message: expect.stringContaining('header row is required') });
  });

  test('broken CSV is refused with its line', () => {
    expect(failure(() => parseStatementCsv(`${HEADER}\nB1,2024-01-31,1,EUR\nB2,2024-01-31,1,EUR,extra\n`))).toMatchObject({ line: 3 });
    expect(failure(() => parseStatementCsv(`${HEADER}\nB1,2024-01-31,1,EUR\nB2,2024-01-31,1,"EUR\n`)).message).toMatch(/^line \d+: .*[Qq]uote/);
  });

  test('two lines with one id refuse the file', () => {
    const text = `${HEADER}\nB1,2024-01-31,1,EUR\nB2,2024-01-31,1,EUR\nB1,2024-02-01,2,EUR\n`;
    expect(failure(() => parseStatementCsv(text))).toMatchObject({ line: 4, message: "line 4: id 'B1' is also on line 2" });
  });
});

// ---------------------------------------------------------------- CSV round trip

const COLUMNS = ['credit_id', 'value_date', 'amount', 'currency', 'direction', 'reference', 'payer_name', 'payer_account', 'payer_bank_code'] as const;

/** Free text as payers type it: separators, quotes, line breaks, non-Latin scripts; trimmed, since the parser trims. */
const freeText = fc.string({
  unit: fc.oneof(fc.constantFrom(',', '"', '\n', ' ', ';', "'", 'ü', '€', '中', '😀'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
  minLength: 1,
  maxLength: 20,
}).map((s) => s.trim()).filter((s) => s !== '' && !s.includes('\r'));

const statementLine: fc.Arbitrary<StatementLine> = fc.record({
  direction: fc.constantFrom('credit' as const, 'debit' as const),
  credit_id: freeText,
  value_date: fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10)),
  amount: fc.integer({ min: 1, max: 999_999_999_999 }),
  currency: fc.constantFrom('EUR', 'USD', 'JPY', 'KWD', 'BHD', 'CLF', 'HUF'),
  reference: fc.option(freeText),
  payer: fc.record({ name: fc.option(freeText), account: fc.option(freeText), bank_code: fc.option(freeText) }),
});

function cell(line: StatementLine, column: typeof COLUMNS[number]): string {
  switch (column) {
    case 'amount': return toMajorUnitString(line.amount, line.currency);
    case 'reference': return line.reference ?? '';
    case 'payer_name': return line.payer.name ?? '';
    case 'payer_account': return line.payer.account ?? '';
    case 'payer_bank_code': return line.payer.bank_code ?? '';
    default: return line[column];
  }
}

const quoted = (value: string) => /[",\n]/.test(value) || value === '' ? `"${value.replace(/"/g, '""')}"` : value;

type CsvFile = { lines: StatementLine[]; columns: (typeof COLUMNS[number])[]; upper: boolean[]; newline: string; bom: boolean };

const csvFile: fc.Arbitrary<CsvFile> = fc.record({
  lines: fc.uniqueArray(statementLine, { selector: (line) => line.credit_id, maxLength: 15 }),
  columns: fc.shuffledSubarray([...COLUMNS], { minLength: COLUMNS.length }),
  upper: fc.array(fc.boolean(), { minLength: COLUMNS.length, maxLength: COLUMNS.length }),
  newline: fc.constantFrom('\n', '\r\n'),
  bom: fc.boolean(),
});

/** The file an operator would upload; `badAmountAt` spoils one line's amount. */
function writeCsv({ lines, columns, upper, newline, bom }: CsvFile, badAmountAt?: number): string {
  const header = columns.map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(',');
  const rows = lines.map((line, at) => columns
    .map((c) => (c === 'amount' && at === badAmountAt ? `${cell(line, c)}1` : quoted(cell(line, c))).replace(/\n/g, newline))
    .join(','));
  return `${bom ? '\uFEFF' : ''}${[header, ...rows].join(newline)}${newline}`;
}

describe('CSV round trip', () => {
  test('lines written as CSV parse back the same', () => {
    fc.assert(fc.property(csvFile, (file) => {
      expect(parseStatementCsv(writeCsv(file))).toEqual(file.lines);
    }), { numRuns: 300 });
  });

  test('a bad amount is reported on the physical line its record starts on', () => {
    fc.assert(fc.property(csvFile, fc.nat(), (file, pick) => {
      fc.pre(file.lines.length > 0);
      const bad = pick % file.lines.length;
      // A trailing digit makes any amount one decimal too precise for its currency.
      const lines = file.lines.map((line, i) => (i === bad ? { ...line, amount: 1, currency: 'EUR' } : line));
      const breaks = (line: StatementLine) => COLUMNS.reduce((n, c) => n + cell(line, c).split('\n').length - 1, 0);
      const startsOn = 2 + bad + lines.slice(0, bad).reduce((n, line) => n + breaks(line), 0);
      const error = failure(() => parseStatementCsv(writeCsv({ ...file, lines }, bad)));
      expect(error).toMatchObject({ line: startsOn, message: expect.stringMatching(new RegExp(`^line ${startsOn}: amount 0\\.011 is not an exact EUR amount`)) });
    }), { numRuns: 200 });
  });
});

// ---------------------------------------------------------------- format selection

describe('parseStatement', () => {
  const xml = camt([[entry()]]);
  const csv = `${HEADER}\nB1,2024-01-31,1.00,EUR\n`;

  test.each([
    ['application/xml', xml, 'camt.053'],
    ['text/xml; charset=utf-8', xml, 'camt.053'],
    ['Application/XML', xml, 'camt.053'],
    ['text/csv', csv, 'csv'],
    ['text/csv; charset=UTF-8; header=present', csv, 'csv'],
    [undefined, xml, 'camt.053'],
    [undefined, `\uFEFF \r\n\t${xml}`, 'camt.053'],
    [undefined, csv, 'csv'],
    [undefined, `\uFEFF${csv}`, 'csv'],
    ['application/octet-stream', xml, 'camt.053'],
    ['text/plain', csv, 'csv'],
    ['', csv, 'csv'],
  ])('content type %p picks the parser', (contentType, body, format) => {
    const parsed = parseStatement(body, contentType);
    expect(parsed.format).toBe(format);
    expect(parsed.lines).toHaveLength(1);
  });

  test('a declared type is trusted over the content', () => {
    expect(() => parseStatement(csv, 'application/xml')).toThrow(StatementError);
    expect(() => parseStatement(xml, 'text/csv')).toThrow(StatementError);
  });
});
