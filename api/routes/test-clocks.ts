import { WorkflowNotFoundError } from '@temporalio/common';
import { Router } from 'express';
import { findClock, findDunning, insertClock, lagging, markClockReady, saveDunning, startAdvance, subscriptionsOnClock } from '../../db/billing';
import type { Tenant } from '../../db/merchants';
import { retryOffsetsSeconds } from '../../billing/dunning';
import type { DunningConfig } from '../../billing/dunning';
import type { TestClock } from '../../domain/billing';
import { ApiError, found, invalidRequest, invalidState } from '../../domain/errors';
import { newId } from '../../domain/ids';
import { DEFAULT_DUNNING } from '../../activities/billing';
import { clockAdvancedSignal, subscriptionWorkflowId } from '../../workflows/billing-messages';
import type { ApiContext } from '../context';
import { idempotencyScope, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { AdvanceTestClockBody, BillingSettingsBody, CreateTestClockBody } from '../schemas/billing';

/** How far one advance may go (Stripe's limit is two intervals; ours lets a README test a year at once). */
const MAX_ADVANCE_SECONDS = 2 * 366 * 86_400;
/** How long an advance answer waits for every subscription on the clock to catch up before answering `advancing`. */
const ADVANCE_WAIT_MS = 120_000;

/**
 * Test clocks (test mode only, as Stripe's): customers created on one live on its time, and
 * advancing it runs every renewal, retry and trial end in between, in order, before it is `ready`.
 */
export function testClocksRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, temporal } = ctx;

  const testTenant = (tenant: Tenant) => {
    if (tenant.livemode) throw invalidRequest('Test clocks exist in test mode only: use a test key (sk_test_…).', undefined, 'livemode_mismatch');
    return tenant;
  };
  /** Ready once every subscription on it has run up to its time; an interrupted advance completes on the next look. */
  const signal = async (subscriptionId: string, time: number) => {
    try {
      await temporal.workflow.getHandle(subscriptionWorkflowId(subscriptionId)).signal(clockAdvancedSignal, time);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // ended meanwhile: nothing left to run
    }
  };
  const current = async (clock: TestClock, resend = false): Promise<TestClock> => {
    if (clock.status !== 'advancing') return clock;
    const behind = await lagging(pool, clock.id, clock.frozen_time);
    if (behind.length > 0) {
      // One created while the advance started, or a signal lost: telling it again is harmless (it keeps the latest time).
      if (resend) for (const id of behind) await signal(id, clock.frozen_time);
      return clock;
    }
    await markClockReady(pool, clock.id, clock.frozen_time);
    return { ...clock, status: 'ready' };
  };
  const loadClock = async (tenant: Tenant, id: string) => current(found(await findClock(pool, testTenant(tenant), id), 'test_clock', id), true);

  router.post('/', async (req, res) => {
    const tenant = testTenant(requireTenant(req));
    const body = parse(CreateTestClockBody, req.body);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'test_clock',
      allocate: () => newId('clock'),
      replay: async (id, status) => ({ status, body: await loadClock(tenant, id) }),
      run: async (id) => ({ status: 201, body: await insertClock(pool, tenant, { id, name: body.name, frozenTime: body.frozen_time }) }),
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/:id', async (req, res) => {
    res.json(await loadClock(requireTenant(req), String(req.params.id)));
  });

  router.post('/:id/advance', async (req, res) => {
    const tenant = testTenant(requireTenant(req));
    const body = parse(AdvanceTestClockBody, req.body);
    const clock = await loadClock(tenant, String(req.params.id));
    if (clock.status === 'advancing') throw invalidState('This test clock is still advancing; wait until it is ready.', 'clock_advancing');
    // Well-formed times that conflict with where the clock stands now: 409, as for a capture of a failed payment.
    if (body.frozen_time <= clock.frozen_time) {
      throw new ApiError(409, 'invalid_state', 'clock_time_in_past', `frozen_time must be later than the clock's current time (${clock.frozen_time}): a clock only moves forward.`, 'frozen_time');
    }
    if (body.frozen_time - clock.frozen_time > MAX_ADVANCE_SECONDS) {
      throw new ApiError(409, 'invalid_state', 'clock_advance_too_far', `A test clock advances at most two years at a time (to ${clock.frozen_time + MAX_ADVANCE_SECONDS} from here).`, 'frozen_time');
    }
    const advancing = await startAdvance(pool, tenant, clock.id, body.frozen_time);
    if (!advancing) throw invalidState('This test clock is advancing or has moved; read it again.', 'clock_advancing');
    for (const id of await subscriptionsOnClock(pool, clock.id)) await signal(id, body.frozen_time);
    const deadline = Date.now() + ADVANCE_WAIT_MS;
    let answer = await current(advancing);
    for (let polls = 1; answer.status === 'advancing' && Date.now() < deadline; polls++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await current(answer, polls % 20 === 0);
    }
    res.json(answer);
  });
  return router;
}

const settingsOf = (livemode: boolean, dunning: DunningConfig) => ({ object: 'billing_settings', livemode, dunning: { ...dunning, retry_offsets_seconds: retryOffsetsSeconds(dunning) } });

/** The merchant's billing policy per mode: its dunning schedule and what happens when it is exhausted. */
export function billingSettingsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    res.json(settingsOf(tenant.livemode, (await findDunning(ctx.pool, tenant)) ?? DEFAULT_DUNNING));
  });
  router.post('/', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(BillingSettingsBody, req.body);
    await saveDunning(ctx.pool, tenant, body.dunning);
    res.json(settingsOf(tenant.livemode, body.dunning));
  });
  return router;
}
