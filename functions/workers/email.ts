import { deliverOnce, sendOptions } from '../domain/deliveries';
import { EmailMessage } from '../domain/messages';
import { sendEmail } from '../integrations/sendgrid';
import { sqsConsumer } from '../shared/consumer';

/** The email queue: one e-mail per notification, whatever the deliveries. */
export const handler = sqsConsumer(
  EmailMessage,
  async (message, delivery) => {
    await deliverOnce('email', message, delivery, () => sendEmail(message, delivery.trace, sendOptions(delivery)));
  },
  { parallel: true },
);
