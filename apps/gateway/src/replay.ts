import type { Delivery } from '@callback-gateway/store';
import type { GatewayContext } from './context.js';
import { GatewayHttpError } from './errors.js';

/**
 * Puts a delivery back on its way (same `webhook-id`) and audits it: one replay, whether asked
 * for one delivery, in bulk by filter, or for a destination's dead letters on the dashboard.
 * Returns the replay's round.
 */
export async function replayDelivery(
  context: Pick<GatewayContext, 'registrations' | 'deliveries' | 'audit'>,
  delivery: Delivery,
  actor: string,
  bulk: boolean,
): Promise<number> {
  const { registrations, deliveries, audit } = context;
  // An operator's replay also lets later callbacks of a registration that answered 410 flow.
  await registrations.resumeDeliveries(delivery.registrationId);
  const number = await deliveries.requeue(delivery.id);
  if (number === undefined) throw new GatewayHttpError('not_found', 'the callback expired');
  // On its way again: a second replay now would be refused (409) instead of doubling it.
  await deliveries.transition(delivery, 'queued', { next_attempt_at: '' });
  audit.record({
    type: 'delivery.replayed',
    actor: { kind: 'api_client', id: actor },
    correlation: {
      registration_id: delivery.registrationId,
      delivery_id: delivery.id,
      callback_id: delivery.id,
    },
    data: { from_state: delivery.state, bulk },
  });
  return number;
}
