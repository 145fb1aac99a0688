import { deliverOnce } from '../domain/deliveries';
import { SlackMessage } from '../domain/messages';
import { sendSlackDirectMessage } from '../integrations/slack';
import { sqsConsumer } from '../shared/consumer';

/** The slack queue: one direct message per notification, whatever the deliveries. */
export const handler = sqsConsumer(
  SlackMessage,
  async (message, { trace, log, context }) => {
    const outcome = await deliverOnce('slack', message.notificationId, context, () => sendSlackDirectMessage(message, trace));
    log.info(outcome.replayed ? 'slack message already handled' : `slack message ${outcome.status}`, { notificationId: message.notificationId, outcome });
  },
  { parallel: true },
);
