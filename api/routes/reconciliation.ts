import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { Router } from 'express';
import { reconciliationRunId, reportsOf } from '../../activities/reconciliation';
import { findItem, findRun, listItems, listRuns, merchantCounts, resolveItem } from '../../db/reconciliation';
import type { ReconciliationRun } from '../../db/reconciliation';
import { ApiError, forbidden, found, invalidRequest, unavailable } from '../../domain/errors';
import { reconciliationWorkflow, reconciliationWorkflowId } from '../../workflows/reconciliation.workflow';
import type { ApiContext } from '../context';
import { adminOrTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { within } from '../sync';
import { CreateRunBody, ItemListQuery, ResolveItemBody, RunListQuery } from '../schemas/reconciliation';

const operatorsOnly = () => new ApiError(401, 'authentication_error', 'admin_key_required', 'Reconciliation runs are the operator\'s: use the admin key.');

/**
 * Reconciliation runs and items. Provider accounts are the platform's: starting runs and
 * resolving items needs the admin key; a merchant key sees the runs of its mode with its own
 * counts, and only the items about its own payments.
 */
export function reconciliationRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, temporal, config } = ctx;

  /** A merchant's view of a run: its own items' counts. */
  const view = async (run: ReconciliationRun, who: Awaited<ReturnType<typeof adminOrTenant>>) =>
    who.admin ? run : { ...run, counts: await merchantCounts(pool, run.id, who.tenant.merchantId), totals: [] };
  /** The admin chooses the mode (test by default); a merchant key has its own. */
  const modeOf = (who: Awaited<ReturnType<typeof adminOrTenant>>, asked: 'true' | 'false' | undefined) => {
    if (who.admin) return asked === 'true';
    if (asked !== undefined && (asked === 'true') !== who.tenant.livemode) throw forbidden('livemode is the key\'s own: only the admin key chooses it.', 'livemode');
    return who.tenant.livemode;
  };

  router.post('/runs', async (req, res) => {
    const who = await adminOrTenant(pool, config.ADMIN_API_KEY, req);
    if (!who.admin) throw operatorsOnly();
    const body = parse(CreateRunBody, req.body);
    if (!reportsOf(ctx.providers, body.provider, body.livemode)) {
      throw invalidRequest(`${body.provider} is not configured for ${body.livemode ? 'live' : 'test'} mode, or has no settlement report.`, 'provider', 'provider_unavailable');
    }
    const ref = { runId: reconciliationRunId(body.provider, body.livemode, body.date), provider: body.provider, livemode: body.livemode, date: body.date };
    let handle;
    try {
      // A day runs once at a time; run again once it ended, it updates the same run and items.
      handle = await temporal.workflow.start(reconciliationWorkflow, {
        workflowId: reconciliationWorkflowId(body.provider, body.livemode, body.date), taskQueue: config.TEMPORAL_TASK_QUEUE, args: [ref],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE', workflowIdConflictPolicy: 'USE_EXISTING',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      handle = temporal.workflow.getHandle(reconciliationWorkflowId(body.provider, body.livemode, body.date));
    }
    // Answered when done, or as it stands after SYNC_WAIT_MS (202).
    await within(config.SYNC_WAIT_MS, handle.result().catch(() => undefined));
    const run = await findRun(pool, ref.runId);
    if (!run) throw unavailable('The run has not started yet; ask again (GET /v1/reconciliation/runs/' + ref.runId + ').');
    res.json(run);
  });

  router.get('/runs', async (req, res) => {
    const who = await adminOrTenant(pool, config.ADMIN_API_KEY, req);
    const q = parse(RunListQuery, req.query);
    const runs = await listRuns(pool, modeOf(who, q.livemode), q.limit);
    res.json({ object: 'list', data: await Promise.all(runs.map((r) => view(r, who))), has_more: false });
  });

  router.get('/runs/:id', async (req, res) => {
    const who = await adminOrTenant(pool, config.ADMIN_API_KEY, req);
    const id = String(req.params.id);
    const run = await findRun(pool, id);
    res.json(await view(found(run && (who.admin || run.livemode === who.tenant.livemode) ? run : undefined, 'reconciliation_run', id), who));
  });

  router.get('/items', async (req, res) => {
    const who = await adminOrTenant(pool, config.ADMIN_API_KEY, req);
    const q = parse(ItemListQuery, req.query);
    const items = await listItems(pool, {
      runId: q.run_id, status: q.status, livemode: modeOf(who, q.livemode), limit: q.limit, ...(who.admin ? {} : { merchantId: who.tenant.merchantId }),
    });
    res.json({ object: 'list', data: items, has_more: false });
  });

  router.post('/items/:id/resolve', async (req, res) => {
    const who = await adminOrTenant(pool, config.ADMIN_API_KEY, req);
    if (!who.admin) throw operatorsOnly();
    const id = String(req.params.id);
    const { resolution, note } = parse(ResolveItemBody, req.body);
    found(await findItem(pool, id), 'reconciliation_item', id);
    await resolveItem(pool, id, resolution, note);
    const { merchant_id: _m, ...item } = (await findItem(pool, id))!;
    res.json(item);
  });

  return router;
}
