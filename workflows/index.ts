export { paymentWorkflow } from './payment.workflow';
export { receiptWorkflow, webhookDeliveryWorkflow } from './notifications';
