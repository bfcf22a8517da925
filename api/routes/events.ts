import { Router } from 'express';
import type { Pool } from 'pg';
import { deliveriesOf, findEvent, listEvents, publicEvent } from '../../db/events';
import type { MerchantEvent } from '../../domain/events';
import { createEndpoint, deleteEndpoint, findEndpoint, listEndpoints, rotateSecret, subscribedEndpoints, updateEndpoint } from '../../db/webhooks';
import { forbidden, found, invalidState, notFound } from '../../domain/errors';
import { newId } from '../../domain/ids';
import { ForbiddenUrlError } from '../../runtime/url-guard';
import type { ApiContext } from '../context';
import { idempotencyScope, requireTenant } from '../middleware/auth';
import type { Tenant } from '../../db/merchants';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { CreateWebhookEndpointBody, EventListQuery, ResendEventBody, RotateSecretBody, UpdateWebhookEndpointBody } from '../schemas/events';

/** Events as the API shows them: what was delivered, plus every delivery and attempt. */
async function withDeliveries(pool: Pool, events: MerchantEvent[]) {
  const byEvent = await deliveriesOf(pool, events.map((e) => e.id));
  return events.map((e) => ({ ...publicEvent(e), ...byEvent.get(e.id)! }));
}

export function eventsRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool } = ctx;
  const loadEvent = async (tenant: Tenant, id: string) => found(await findEvent(pool, tenant, id), 'event', id);

  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    const q = parse(EventListQuery, req.query);
    const page = await listEvents(pool, tenant, { type: q.type, objectId: q.object_id }, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('event', q.starting_after!, 'starting_after');
    res.json({ ...page, data: await withDeliveries(pool, page.data) });
  });

  router.get('/:id', async (req, res) => {
    const tenant = requireTenant(req);
    const [event] = await withDeliveries(pool, [await loadEvent(tenant, String(req.params.id))]);
    res.json(event);
  });

  router.post('/:id/resend', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(ResendEventBody, req.body);
    const event = await loadEvent(tenant, String(req.params.id));
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'event_resend',
      allocate: () => event.id,
      replay: async (id, status) => ({ status, body: (await withDeliveries(pool, [await loadEvent(tenant, id)]))[0] }),
      run: async (_id, opKey) => {
        let endpointIds: string[];
        if (body.endpoint_id) {
          const endpoint = found(await findEndpoint(pool, tenant, body.endpoint_id), 'webhook_endpoint', body.endpoint_id, 'endpoint_id');
          if (endpoint.status !== 'enabled') throw invalidState(`Webhook endpoint ${endpoint.id} is disabled; enable it first.`);
          endpointIds = [endpoint.id];
        } else {
          endpointIds = await subscribedEndpoints(pool, tenant, event.type);
          if (endpointIds.length === 0) throw invalidState('No enabled webhook endpoint subscribes to this event.', 'no_endpoint');
        }
        await ctx.dispatcher.resend({ id: event.id, type: event.type, merchantId: tenant.merchantId }, endpointIds, opKey);
        return { status: 200, body: (await withDeliveries(pool, [event]))[0] };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });
  return router;
}

export function webhookEndpointsRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, secrets, urlGuard } = ctx;
  const loadEndpoint = async (tenant: Tenant, id: string) => found(await findEndpoint(pool, tenant, id), 'webhook_endpoint', id);

  const checkUrl = async (url: string) => {
    try {
      await urlGuard.check(url);
    } catch (err) {
      // A well-formed URL this deployment may not call (WEBHOOK_ALLOWED_NETWORKS): refused by policy, not malformed.
      if (err instanceof ForbiddenUrlError) throw forbidden(`Refused url: ${err.message}.`, 'url', 'url_not_allowed');
      throw err;
    }
  };

  router.post('/', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(CreateWebhookEndpointBody, req.body);
    await checkUrl(body.url);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'webhook_endpoint',
      allocate: () => newId('we'),
      // The secret is shown once; a replay of the same request (whose first answer may have been
      // lost) shows it again, since the caller could not have stored it otherwise. The endpoint
      // deleted since, the replay still answers what the request did (as Stripe replays), not 404.
      replay: async (id, status) => ({ status, body: await withSecret(tenant, id, true) }),
      run: async (id) => {
        await createEndpoint(pool, {
          id, tenant, url: body.url, events: body.events ?? ['*'], description: body.description ?? null, secretSealed: secrets.seal(newId('whsec')),
        });
        return { status: 201, body: await withSecret(tenant, id) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  const withSecret = async (tenant: Tenant, id: string, withDeleted = false) => {
    const endpoint = found(await findEndpoint(pool, tenant, id, { withDeleted }), 'webhook_endpoint', id);
    const { rows } = await pool.query('SELECT secret_sealed FROM webhook_endpoints WHERE id = $1', [id]);
    return { ...endpoint, secret: secrets.open(rows[0].secret_sealed) };
  };

  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    const q = parse(EventListQuery.pick({ limit: true, starting_after: true }), req.query);
    const page = await listEndpoints(pool, tenant, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('webhook_endpoint', q.starting_after!, 'starting_after');
    res.json(page);
  });

  router.get('/:id', async (req, res) => {
    res.json(await loadEndpoint(requireTenant(req), String(req.params.id)));
  });

  router.post('/:id', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(UpdateWebhookEndpointBody, req.body);
    if (body.url !== undefined) await checkUrl(body.url);
    const id = String(req.params.id);
    res.json(found(await updateEndpoint(pool, tenant, id, body), 'webhook_endpoint', id));
  });

  router.post('/:id/rotate_secret', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(RotateSecretBody, req.body);
    const id = String(req.params.id);
    await loadEndpoint(tenant, id);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'webhook_secret',
      allocate: () => id,
      replay: async (endpointId, status) => ({ status, body: await withSecret(tenant, endpointId) }),
      run: async (_id, opKey) => {
        found(await rotateSecret(pool, tenant, id, secrets.seal(newId('whsec')), body.overlap_seconds * 1000, opKey), 'webhook_endpoint', id);
        return { status: 200, body: await withSecret(tenant, id) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.delete('/:id', async (req, res) => {
    const tenant = requireTenant(req);
    const id = String(req.params.id);
    if (!(await deleteEndpoint(pool, tenant, id))) throw notFound('webhook_endpoint', id);
    res.json({ id, object: 'webhook_endpoint', deleted: true });
  });
  return router;
}
