import { randomUUID } from 'node:crypto';
import { msToTs } from '@temporalio/common/lib/time';
import { ensureSearchAttributes } from '../runtime/temporal';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { eventually, useTestStack } from './support/stack';

// A namespace set up for an older version lacks the newer search attributes (Livemode,
// RequiresAttention): starting a payment there would be refused, so the services add them.
const stack = useTestStack({}, { worker: false });

test('missing search attributes are registered once, with their types; present ones are left alone', async () => {
  const { temporal } = stack().context;
  const namespace = `older-${randomUUID().slice(0, 8)}`;
  await temporal.connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  const added = await eventually(() => ensureSearchAttributes(temporal, namespace, PAYMENT_SEARCH_ATTRIBUTES).catch(() => undefined), (a) => a !== undefined);
  expect(added!.sort()).toEqual(PAYMENT_SEARCH_ATTRIBUTES.map((k) => k.name).sort());
  const { customAttributes } = await temporal.connection.operatorService.listSearchAttributes({ namespace });
  expect(customAttributes?.Livemode).toBe(5); // INDEXED_VALUE_TYPE_BOOL
  expect(customAttributes?.AmountMinor).toBe(3); // INDEXED_VALUE_TYPE_INT
  expect(await ensureSearchAttributes(temporal, namespace, PAYMENT_SEARCH_ATTRIBUTES)).toEqual([]);
});
