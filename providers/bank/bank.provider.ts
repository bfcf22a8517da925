import type { BankRail } from '../../bank/rail';
import type {
  AuthorizeRequest, AuthorizeResult, CancelRequest, CaptureRequest, OperationResult, PaymentProblem, PaymentProvider, PaymentShape,
  ProviderPaymentState, RefundRequest, RefundResult, StatusRequest,
} from '../provider';

/**
 * Live bank transfers into our own receiving accounts (BANK_ACCOUNTS). Nothing is called out:
 * the money arrives as credits (the bank's feed, statements) that the matching workflow applies;
 * capturing and closing only settle the instructions, refunds are payouts.
 */
export class BankProvider implements PaymentProvider {
  readonly name = 'bank' as const;

  constructor(private readonly rail: BankRail) {}

  problemWith(p: PaymentShape): PaymentProblem | undefined {
    if (p.methodType !== 'bank_transfer') return { param: 'payment_method.type', code: 'payment_method_not_supported', message: 'The bank provider takes bank transfers only.' };
    return this.rail.problemWith(p);
  }

  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    const nextAction = await this.rail.instructions(req);
    return { status: 'requires_action', reference: nextAction.reference!, nextAction };
  }

  async capture(req: CaptureRequest): Promise<OperationResult> {
    const t = await this.rail.funded(req.paymentId);
    return t?.status === 'funded' ? { status: 'succeeded' } : { status: 'declined', code: 'invalid_state', message: `The transfer is ${t?.status ?? 'unknown'}.` };
  }

  async cancel(req: CancelRequest): Promise<OperationResult> {
    const t = await this.rail.closed(req.paymentId);
    return t?.status === 'funded' ? { status: 'declined', code: 'invalid_state', message: 'The transfer is funded.' } : { status: 'succeeded' };
  }

  refund(req: RefundRequest): Promise<RefundResult> {
    return this.rail.refund(req);
  }

  getStatus(req: StatusRequest): Promise<ProviderPaymentState> {
    return this.rail.status(req.paymentId);
  }
}
