import { deliverOnce, sendOptions } from '../domain/deliveries';
import { SlackMessage } from '../domain/messages';
import { sendSlackDirectMessage } from '../integrations/slack';
import { sqsConsumer } from '../shared/consumer';

/** The slack queue: one direct message per notification, whatever the deliveries. */
export const handler = sqsConsumer(
  SlackMessage,
  async (message, delivery) => {
    await deliverOnce('slack', message, delivery, () => sendSlackDirectMessage(message, delivery.trace, sendOptions(delivery)));
  },
  { parallel: true },
);
