import { deliverOnce } from '../domain/deliveries';
import { EmailMessage } from '../domain/messages';
import { sendEmail } from '../integrations/sendgrid';
import { sqsConsumer } from '../shared/consumer';

/** The email queue: one e-mail per notification, whatever the deliveries. */
export const handler = sqsConsumer(
  EmailMessage,
  async (message, { trace, log, context }) => {
    const outcome = await deliverOnce('email', message.notificationId, context, () => sendEmail(message, trace));
    log.info(outcome.replayed ? 'e-mail already handled' : `e-mail ${outcome.status}`, { notificationId: message.notificationId, outcome });
  },
  { parallel: true },
);
