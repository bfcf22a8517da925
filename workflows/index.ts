import type * as Subscriptions from './subscription.workflow';

export { paymentWorkflow, paymentWorkflowV2, paymentWorkflowV3, paymentWorkflowV4, paymentWorkflowV5, paymentWorkflowV6, paymentWorkflowV7 } from './payment.workflow';
export { receiptWorkflow, webhookDeliveryWorkflow } from './notifications';
export { latePaymentRefundWorkflow } from './late-payment.workflow';
export { invoiceWorkflow } from './invoice.workflow';
export { fxRatesRefreshWorkflow } from './fx.workflow';
export { bankCreditWorkflow } from './bank-credit.workflow';
export { reconciliationWorkflow, scheduledReconciliationWorkflow } from './reconciliation.workflow';

/**
 * The SDK evaluates the bundle's modules afresh for every run it starts. A subscription's modules
 * (calendars with luxon, proration, ISO 4217 data) were most of that work, so they are loaded by
 * subscription runs only, not by every payment's.
 */
export function subscriptionWorkflow(...args: Parameters<typeof Subscriptions.subscriptionWorkflow>): ReturnType<typeof Subscriptions.subscriptionWorkflow> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./subscription.workflow') as typeof Subscriptions).subscriptionWorkflow(...args);
}
