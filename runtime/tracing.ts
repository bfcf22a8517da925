import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import type { Request, RequestHandler } from 'express';
import type { Config } from '../config';

export type Tracing = { plugin: OpenTelemetryPlugin; tracer: Tracer; shutdown: () => Promise<void> };

/**
 * OpenTelemetry tracing from the HTTP request through the workflow and its activities (the
 * Temporal SDK's interceptors carry the context in headers). Off unless OTEL_TRACES_EXPORTER
 * is `otlp` (to OTEL_EXPORTER_OTLP_ENDPOINT) or `console`.
 */
export function createTracing(config: Config): Tracing | undefined {
  if (config.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const exporter: SpanExporter =
    config.OTEL_TRACES_EXPORTER === 'console'
      ? new ConsoleSpanExporter()
      : new OTLPTraceExporter({ url: `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces` });
  const resource = new Resource({ 'service.name': config.OTEL_SERVICE_NAME });
  const spanProcessor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register(); // global provider and AsyncLocalStorage context: the request's span follows its awaits
  const tracer = trace.getTracer('temporal-payments');
  return {
    plugin: new OpenTelemetryPlugin({ resource, spanProcessor, tracer }),
    tracer,
    shutdown: () => provider.shutdown(),
  };
}

/** The matched route (`/v1/payments/:id`), never the raw path: ids would explode metric series and span names. */
export const routeOf = (req: Request): string => (req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched');

/** One server span per API request; Temporal calls made while handling it become its children. */
export function tracingMiddleware(tracer: Tracer): RequestHandler {
  return (req, res, next) => {
    tracer.startActiveSpan(`HTTP ${req.method}`, { attributes: { 'http.method': req.method, 'http.target': req.path } }, (span) => {
      res.on('finish', () => {
        const route = routeOf(req);
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.status_code': res.statusCode });
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      next();
    });
  };
}
