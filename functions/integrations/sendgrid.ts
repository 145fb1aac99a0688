import { requiredEnv } from '../shared/env';
import { secretValue } from '../shared/secrets';
import type { Trace } from '../shared/trace';
import { call, NOTIFICATION_TIMEOUTS, PermanentFailure } from './http';

export interface Email {
  to: { email: string; name: string };
  subject: string;
  text: string;
  notificationId: string;
}

/** One e-mail through SendGrid's v3 mail send; the notification and request ids ride in custom_args. */
export async function sendEmail(email: Email, trace: Trace): Promise<{ messageId: string | null }> {
  const answer = await call(`${requiredEnv('SENDGRID_API_URL')}/v3/mail/send`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await secretValue('SENDGRID_API_KEY')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      personalizations: [{ to: [email.to], custom_args: { notification_id: email.notificationId, request_id: trace.requestId } }],
      from: { email: requiredEnv('NOTIFICATION_FROM_EMAIL'), name: 'TaskFlow' },
      subject: email.subject,
      content: [{ type: 'text/plain', value: email.text }],
    }),
    trace,
    timeouts: NOTIFICATION_TIMEOUTS,
  });
  if (answer.status === 202 || answer.status === 200) {
    const id = answer.headers['x-message-id'];
    return { messageId: typeof id === 'string' ? id : null };
  }
  // 400 and 413 are about this message (an invalid address, say); 401/403 are the configuration's,
  // which an operator fixes before redriving, so they are retried like outages.
  if (answer.status === 400 || answer.status === 413) throw new PermanentFailure(`sendgrid: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
  throw new Error(`sendgrid: HTTP ${answer.status}${answer.status === 429 ? ` (Retry-After ${String(answer.headers['retry-after'])})` : ''}`);
}
