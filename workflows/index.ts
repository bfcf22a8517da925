export { paymentWorkflow, paymentWorkflowV2, paymentWorkflowV3, paymentWorkflowV4, paymentWorkflowV5, paymentWorkflowV6 } from './payment.workflow';
export { receiptWorkflow, webhookDeliveryWorkflow } from './notifications';
export { latePaymentRefundWorkflow } from './late-payment.workflow';
export { subscriptionWorkflow } from './subscription.workflow';
export { invoiceWorkflow } from './invoice.workflow';
export { fxRatesRefreshWorkflow } from './fx.workflow';
export { bankCreditWorkflow } from './bank-credit.workflow';
export { reconciliationWorkflow, scheduledReconciliationWorkflow } from './reconciliation.workflow';
