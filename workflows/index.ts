export { paymentWorkflow } from './payment.workflow';
export { receiptWorkflow, webhookDeliveryWorkflow } from './notifications';
export { latePaymentRefundWorkflow } from './late-payment.workflow';
