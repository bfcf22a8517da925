import { EVENT_FILTERS, EVENT_TYPES } from '../../domain/events';
import { listOf, ListQuery, Timestamp, z, text } from './common';

const EventFilter = z
  .enum(EVENT_FILTERS, { error: `unknown event type: use one of ${EVENT_TYPES.join(', ')}, a family such as payment.*, or *` })
  .openapi({ example: 'payment.captured' });

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const PORT = '(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)';
/**
 * An absolute http(s) URL to a host name (its last label starts with a letter, so it is never
 * read as a number) or a dotted IPv4 address, with an optional port, path, query and fragment:
 * exactly what the document states. Where it points is checked apart (SSRF: a 403).
 */
const WEBHOOK_URL = new RegExp(
  `^[Hh][Tt][Tt][Pp][Ss]?://(?:(?:${LABEL}\\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?|(?:${OCTET}\\.){3}${OCTET})(?::${PORT})?(?:[/?#][^\\x00-\\x20\\x7f]*)?$`,
);
const WebhookUrl = text(2048).regex(WEBHOOK_URL, { error: 'url must be an absolute http or https URL to a host name or an IPv4 address' })
  .openapi({ example: 'https://shop.example.com/payments/webhook' });

export const CreateWebhookEndpointBody = z
  .strictObject({
    url: WebhookUrl,
    events: z.array(EventFilter).min(1).max(20).optional().openapi({ description: 'Event types to receive; default all (`*`).' }),
    description: text(500).optional(),
  })
  .openapi('CreateWebhookEndpoint');

export const UpdateWebhookEndpointBody = z
  .strictObject({
    url: WebhookUrl.optional(),
    events: z.array(EventFilter).min(1).max(20).optional(),
    description: text(500).nullable().optional(),
    status: z.enum(['enabled', 'disabled']).optional().openapi({ description: 'Re-enable an endpoint that was disabled after failing for days.' }),
  })
  .openapi('UpdateWebhookEndpoint');

export const RotateSecretBody = z
  .strictObject({
    overlap_seconds: z.number().int().min(0).max(7 * 24 * 3600).default(24 * 3600)
      .openapi({ description: 'How long the previous secret keeps signing next to the new one (default 24 h).' }),
  })
  .openapi('RotateWebhookSecret');

export const ResendEventBody = z
  .strictObject({ endpoint_id: text(100).optional().openapi({ description: 'Only this endpoint; default every enabled endpoint subscribed to the event.' }) })
  .openapi('ResendEvent');

export const EventListQuery = ListQuery.extend({
  type: EventFilter.optional(),
  object_id: text(100).optional(),
});

export const WebhookEndpointObject = z
  .object({
    id: z.string().openapi({ example: 'we_4fQ...' }),
    object: z.literal('webhook_endpoint'),
    livemode: z.boolean().openapi({ description: 'Receives the events of this mode only.' }),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    status: z.enum(['enabled', 'disabled']),
    disabled_reason: z.string().nullable(),
    secret: z.string().optional().openapi({ description: 'Signing secret (`whsec_...`): only in the answer that creates or rotates it.' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('WebhookEndpoint');

export const DeletedWebhookEndpoint = z
  .object({ id: z.string(), object: z.literal('webhook_endpoint'), deleted: z.literal(true) })
  .openapi('DeletedWebhookEndpoint');

const Delivery = z.object({
  id: z.string(),
  endpoint_id: z.string(),
  reason: z.enum(['event', 'resend']),
  status: z.enum(['pending', 'succeeded', 'failed', 'canceled']),
  attempt_count: z.number().int(),
  next_attempt_at: Timestamp.nullable(),
  created_at: Timestamp,
  completed_at: Timestamp.nullable(),
});

const Attempt = z.object({
  delivery_id: z.string(),
  endpoint_id: z.string(),
  attempt: z.number().int(),
  attempted_at: Timestamp,
  status_code: z.number().int().nullable(),
  latency_ms: z.number().int(),
  error: z.string().nullable(),
});

export const EventObject = z
  .object({
    id: z.string().openapi({ example: 'evt_9Kd...' }),
    object: z.literal('event'),
    livemode: z.boolean(),
    type: z.enum(EVENT_TYPES),
    object_id: z.string(),
    sequence: z.number().int().openapi({ description: 'Increases with every event: ignore one lower than the last you applied for the same object.' }),
    data: z.object({ object: z.record(z.string(), z.unknown()) }),
    created_at: Timestamp,
    deliveries: z.array(Delivery).openapi({ description: 'One per endpoint the event was sent to, plus one per resend.' }),
    attempts: z.array(Attempt).openapi({ description: 'Every delivery attempt, oldest first.' }),
  })
  .openapi('Event');

export const EventList = listOf(EventObject, 'EventList');
export const WebhookEndpointList = listOf(WebhookEndpointObject, 'WebhookEndpointList');
