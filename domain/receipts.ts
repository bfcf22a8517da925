import type { Payment, Refund } from './payment';
import { toMajorUnitString } from './money';

export type ReceiptMessage = { subject: string; text: string };

const money = (amount: number, currency: string) => `${toMajorUnitString(amount, currency)} ${currency}`;

/** The payer's receipt for a captured payment or a succeeded refund: plain text, exact amounts. */
export function receiptFor(merchantName: string, payment: Pick<Payment, 'id' | 'amount_captured' | 'currency' | 'description'>, refund?: Pick<Refund, 'id' | 'amount'>): ReceiptMessage {
  if (refund) {
    return {
      subject: `Refund of ${money(refund.amount, payment.currency)} from ${merchantName}`,
      text: [
        `${merchantName} refunded ${money(refund.amount, payment.currency)} to you.`,
        '',
        `Refund: ${refund.id}`,
        `Original payment: ${payment.id}${payment.description ? ` (${payment.description})` : ''}`,
        '',
        'The money returns to the payment method you used; your bank may take a few days to show it.',
      ].join('\n'),
    };
  }
  return {
    subject: `Your receipt from ${merchantName}: ${money(payment.amount_captured, payment.currency)}`,
    text: [
      `You paid ${money(payment.amount_captured, payment.currency)} to ${merchantName}.`,
      '',
      `Payment: ${payment.id}`,
      ...(payment.description ? [`For: ${payment.description}`] : []),
    ].join('\n'),
  };
}
