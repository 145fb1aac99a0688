import { requiredEnv } from '../shared/env';
import { secretValue } from '../shared/secrets';
import type { Trace } from '../shared/trace';
import { callIntegration, PermanentFailure, type SendOptions } from './http';

export interface Email {
  to: { email: string; name: string };
  subject: string;
  text: string;
  notificationId: string;
}

/**
 * One e-mail through SendGrid's v3 mail send; the notification and request ids ride in custom_args. Through
 * the integration layer (timeouts, retries, SendGrid's circuit breaker): may throw BreakerOpen or RetryLater
 * (come back later), IntegrationUnavailable, or PermanentFailure (this e-mail can never go).
 */
export async function sendEmail(email: Email, trace: Trace, options: SendOptions = {}): Promise<{ messageId: string | null }> {
  const answer = await callIntegration('sendgrid', '/v3/mail/send', {
    method: 'POST',
    headers: { Authorization: `Bearer ${await secretValue('SENDGRID_API_KEY')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      personalizations: [{ to: [email.to], custom_args: { notification_id: email.notificationId, request_id: trace.requestId } }],
      from: { email: requiredEnv('NOTIFICATION_FROM_EMAIL'), name: 'TaskFlow' },
      subject: email.subject,
      content: [{ type: 'text/plain', value: email.text }],
    }),
    trace,
    ...(options.budgetMs !== undefined ? { budgetMs: options.budgetMs } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  if (answer.status === 202 || answer.status === 200) {
    const id = answer.headers['x-message-id'];
    return { messageId: typeof id === 'string' ? id : null };
  }
  // 400 and 413 are about this message (an invalid address, say); 401/403 are the configuration's,
  // which an operator fixes before redriving, so they are retried like outages. (5xx and 429 never come
  // back here: the layer retried them, then threw.)
  if (answer.status === 400 || answer.status === 413) throw new PermanentFailure(`sendgrid: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
  throw new Error(`sendgrid: HTTP ${answer.status}`);
}
