import { EventMessage } from '../domain/messages';
import { notify } from '../domain/notifications';
import { sqsConsumer } from '../shared/consumer';

/** The notifications queue: each event into its notifications, once (see notify). */
export const handler = sqsConsumer(EventMessage, async (event, { trace, log }) => {
  const { notifications, duplicate } = await notify(event, trace);
  log.info(duplicate ? 'event already taken into effect' : 'event taken into effect', { eventId: event.eventId, type: event.type, notifications });
});
