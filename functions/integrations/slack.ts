import type { Logger } from '@aws-lambda-powertools/logger';
import { secretValue } from '../shared/secrets';
import type { Trace } from '../shared/trace';
import { callIntegration, PermanentFailure, type SendOptions } from './http';

// Slack Web API errors about this message's recipient or text: the same message would fail again.
// Errors about the token or the app (invalid_auth, account_inactive, missing_scope...) are the
// configuration's, which an operator fixes before redriving, so they fail the message like an outage.
const PERMANENT = new Set(['users_not_found', 'user_not_found', 'user_disabled', 'channel_not_found', 'is_archived', 'cannot_dm_bot', 'msg_too_long', 'no_text']);

export interface SlackDirectMessage {
  email: string;
  text: string;
  notificationId: string;
}

/**
 * A direct message to the Slack user with this e-mail address: users.lookupByEmail, then
 * chat.postMessage to that user, with the notification id and request id in the message metadata.
 * Through the integration layer (timeouts, retries, Slack's circuit breaker): may throw BreakerOpen or
 * RetryLater (come back later), IntegrationUnavailable, or PermanentFailure (this message can never go).
 */
export async function sendSlackDirectMessage(message: SlackDirectMessage, trace: Trace, options: SendOptions = {}): Promise<{ channel: string; ts: string }> {
  // Both calls share the budget.
  const deadline = options.budgetMs === undefined ? undefined : Date.now() + options.budgetMs;
  const context = { trace, log: options.log, deadline };
  const { user } = await slackApi<{ user: { id: string } }>('users.lookupByEmail', new URLSearchParams({ email: message.email }), context);
  return slackApi<{ channel: string; ts: string }>(
    'chat.postMessage',
    {
      channel: user.id,
      text: message.text,
      metadata: { event_type: 'taskflow_notification', event_payload: { notification_id: message.notificationId, request_id: trace.requestId } },
    },
    context,
  );
}

async function slackApi<T>(
  method: string,
  payload: URLSearchParams | object,
  { trace, log, deadline }: { trace: Trace; log: Logger | undefined; deadline: number | undefined },
): Promise<T> {
  const form = payload instanceof URLSearchParams;
  const answer = await callIntegration('slack', `/${method}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${await secretValue('SLACK_BOT_TOKEN')}`,
      'Content-Type': form ? 'application/x-www-form-urlencoded' : 'application/json; charset=utf-8',
    },
    body: form ? payload.toString() : JSON.stringify(payload),
    trace,
    ...(deadline !== undefined ? { budgetMs: deadline - Date.now() } : {}),
    ...(log ? { log } : {}),
  });
  // 5xx and 429 never come back here: the layer retried them, then threw.
  if (answer.status !== 200) throw new Error(`slack ${method}: HTTP ${answer.status}`);
  let body: { ok?: boolean; error?: string };
  try {
    body = JSON.parse(answer.body) as typeof body;
  } catch {
    throw new Error(`slack ${method}: an answer that is not JSON`);
  }
  if (body.ok) return body as T;
  if (body.error && PERMANENT.has(body.error)) throw new PermanentFailure(`slack ${method}: ${body.error}`);
  throw new Error(`slack ${method}: ${body.error ?? 'unknown error'}`);
}
