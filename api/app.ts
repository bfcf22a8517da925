import express from 'express';
import type { ApiContext } from './context';
import { adminAuth, merchantAuth, optionalMerchantAuth } from './middleware/auth';
import { errorHandler, methodNotAllowed, notFoundRoute } from './middleware/errors';
import { absentBodyAsEmpty, checkIdempotencyKey, rejectNulCharacters } from './middleware/input';
import { perKeyRateLimit } from './middleware/rate-limit';
import { documentedMethods, openApiDocument } from './openapi';
import { adminRouter } from './routes/admin';
import { codecRouter } from './routes/codec';
import { eventsRouter, webhookEndpointsRouter } from './routes/events';
import { balanceRouter, merchantsRouter } from './routes/merchants';
import { paymentsRouter } from './routes/payments';
import { customersRouter } from './routes/customers';
import { invoicesRouter, subscriptionsRouter } from './routes/subscriptions';
import { billingSettingsRouter, testClocksRouter } from './routes/test-clocks';
import { fxRouter } from './routes/fx';
import { adminBankRouter, bankRouter, bankStatementsRouter } from './routes/bank';
import { reconciliationRouter } from './routes/reconciliation';
import { reviewRouter, riskRulesRouter } from './routes/risk';
import { refundsRouter } from './routes/refunds';
import { routingRouter } from './routes/routing';
import { sandboxRouter } from './routes/sandbox';
import { providerWebhooksRouter } from './routes/webhooks';
import { routeOf, tracingMiddleware } from '../runtime/tracing';
import { mayScrape } from '../runtime/metrics';
import { ApiError } from '../domain/errors';

export const BODY_LIMIT = '64kb';
const PAYMENT_ID = /\bpay_[0-9A-Za-z]{24}\b/;

/** Checks both dependencies, each bounded in time: a dead one makes /readyz answer 503, never hang. */
export async function readiness(ctx: ApiContext): Promise<{ postgres: boolean; temporal: boolean }> {
  const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]);
  const [postgres, temporal] = await Promise.all([
    bounded(ctx.pool.query('SELECT 1')).then(() => true, () => false),
    bounded(ctx.temporal.connection.withDeadline(Date.now() + 2000, () => ctx.temporal.connection.workflowService.getSystemInfo({}))).then(() => true, () => false),
  ]);
  return { postgres, temporal };
}

/** TRUST_PROXY as Express takes it: `true`/`false`, a hop count, or addresses/subnets (`loopback, 10.0.0.0/8`). */
function trustProxy(value: string): boolean | number | string {
  if (value === 'true' || value === 'false') return value === 'true';
  return /^\d+$/.test(value) ? Number(value) : value;
}

export const codecOnApiPort = (config: ApiContext['config']): boolean =>
  config.CODEC_PORT === undefined && (config.CODEC_JWKS_URL !== undefined || config.CODEC_AUTH_TOKEN !== undefined || config.CODEC_OPEN === 'true');

/** /codec with its own body limit (the UI sends whole histories' payloads), rate-limited per address. */
export function mountCodec(app: express.Express, ctx: ApiContext): void {
  app.use('/codec', perKeyRateLimit(ctx.pool, ctx.config.RATE_LIMIT_PER_MINUTE, undefined));
  app.use('/codec', express.json({ limit: '4mb', type: () => true }), codecRouter(ctx));
}

/** The codec alone, for CODEC_PORT: nothing else of the API is reachable there. */
export function createCodecApp(ctx: ApiContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  mountCodec(app, ctx);
  app.use(notFoundRoute);
  app.use(errorHandler(ctx.log));
  return app;
}

/** The HTTP API of shared/API.md, without listening: tests drive it in-process or over a port. */
export function createApp(ctx: ApiContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Behind a load balancer the client's address is in X-Forwarded-For: trusted only as configured.
  app.set('trust proxy', trustProxy(ctx.config.TRUST_PROXY));
  if (ctx.tracer) app.use(tracingMiddleware(ctx.tracer));

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    const checks = await readiness(ctx);
    res.status(checks.postgres && checks.temporal ? 200 : 503).json({ status: checks.postgres && checks.temporal ? 'ready' : 'unavailable', checks });
  });
  app.get('/openapi.json', (_req, res) => void res.json(openApiDocument()));
  app.get('/metrics', async (req, res) => {
    if (!mayScrape(ctx.config.METRICS_AUTH_TOKEN, req.header('authorization'))) {
      return void res.status(401).json(new ApiError(401, 'authentication_error', 'invalid_metrics_token', 'Send `Authorization: Bearer <METRICS_AUTH_TOKEN>`.').toBody());
    }
    res.set('Content-Type', ctx.metrics.registry.contentType).send(await ctx.metrics.text());
  });
  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const route = routeOf(req);
      ctx.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      // One JSON line per request, with the payment it concerns (the worker's lines carry the same id).
      const paymentId = res.locals.paymentId ?? PAYMENT_ID.exec(req.originalUrl)?.[0] ?? (req.body as { payment_id?: unknown } | undefined)?.payment_id;
      ctx.log.info({ method: req.method, route, status: res.statusCode, ms: Math.round(performance.now() - started), ...(typeof paymentId === 'string' ? { payment_id: paymentId } : {}) }, 'request');
    });
    next();
  });

  // Provider callbacks need the raw body for signature checks: mounted before the JSON parser.
  app.use('/webhooks', providerWebhooksRouter(ctx));
  // Before every route that takes one (the statement import too, mounted ahead of the JSON parser).
  app.use(['/v1', '/sandbox'], checkIdempotencyKey);

  app.use(['/v1', '/sandbox'], perKeyRateLimit(ctx.pool, ctx.config.RATE_LIMIT_PER_MINUTE, ctx.config.ADMIN_API_KEY));
  // The Temporal UI's codec calls carry whole histories' payloads: their own, larger limit.
  // The codec decrypts: on the API port only behind a token, or where it is local (npm start);
  // otherwise on its own operators' listener (CODEC_PORT), or not at all.
  if (codecOnApiPort(ctx.config)) mountCodec(app, ctx);
  // Bank statements are files (camt.053 XML, CSV), not JSON; their own auth (admin or merchant key).
  app.use('/v1/bank_statements', express.text({ type: () => true, limit: '5mb' }), bankStatementsRouter(ctx));
  // Any content type is read as JSON, and an empty or absent body as `{}`: routes validate one shape.
  app.use(express.json({ limit: BODY_LIMIT, strict: true, type: () => true }), absentBodyAsEmpty);
  app.use(rejectNulCharacters);
  app.use('/v1/merchants', adminAuth(ctx.config.ADMIN_API_KEY), merchantsRouter(ctx));
  // The merchant's key or an operator's admin key.
  app.use('/v1/payments/:id/review', reviewRouter(ctx));
  // Operators (admin key) run reconciliations; merchants read their own items.
  app.use('/v1/reconciliation', reconciliationRouter(ctx));
  app.use('/v1/admin', adminAuth(ctx.config.ADMIN_API_KEY), adminRouter(ctx), adminBankRouter(ctx));
  app.use('/v1', merchantAuth(ctx.pool));
  app.use('/v1/payments', paymentsRouter(ctx));
  app.use('/v1/refunds', refundsRouter(ctx));
  app.use('/v1/balance', balanceRouter(ctx));
  app.use('/v1/events', eventsRouter(ctx));
  app.use('/v1/webhook_endpoints', webhookEndpointsRouter(ctx));
  app.use('/v1/routing', routingRouter(ctx));
  app.use('/v1/customers', customersRouter(ctx));
  app.use('/v1/subscriptions', subscriptionsRouter(ctx));
  app.use('/v1/invoices', invoicesRouter(ctx));
  app.use('/v1/test_clocks', testClocksRouter(ctx));
  app.use('/v1/billing_settings', billingSettingsRouter(ctx));
  app.use('/v1/fx', fxRouter(ctx));
  app.use('/v1', bankRouter(ctx));
  app.use('/v1/risk', riskRulesRouter(ctx));
  app.use('/sandbox/charges', merchantAuth(ctx.pool));
  app.use('/sandbox', optionalMerchantAuth(ctx.pool), sandboxRouter(ctx));

  app.use(methodNotAllowed(documentedMethods));
  app.use(notFoundRoute);
  app.use(errorHandler(ctx.log));
  return app;
}
