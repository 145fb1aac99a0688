import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX_CREDENTIALS, startSandboxes, type Sandboxes } from '../../lib/local/sandboxes';

// The Slack and SendGrid sandboxes: answers like the real APIs for what TaskFlow calls, every call
// recorded, and each fault mode, driven both through the control API and the functions on the object.

let sandboxes: Sandboxes;

beforeAll(async () => {
  sandboxes = await startSandboxes();
});

afterAll(async () => {
  await sandboxes?.stop();
});

beforeEach(() => {
  sandboxes.clearCalls();
  sandboxes.setFault('slack', { mode: 'ok' });
  sandboxes.setFault('sendgrid', { mode: 'ok' });
});

const slackToken = `Bearer ${SANDBOX_CREDENTIALS.SLACK_BOT_TOKEN}`;
const sendgridKey = `Bearer ${SANDBOX_CREDENTIALS.SENDGRID_API_KEY}`;

function lookup(email: string, authorization: string | null = slackToken, via: 'form' | 'query' = 'form') {
  const form = new URLSearchParams({ email });
  return fetch(`${sandboxes.urls.slack}/users.lookupByEmail${via === 'query' ? `?${form}` : ''}`, {
    method: 'POST',
    headers: { ...(authorization ? { Authorization: authorization } : {}), ...(via === 'form' ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
    ...(via === 'form' ? { body: form } : {}),
  });
}

function postMessage(body: object, authorization = slackToken) {
  return fetch(`${sandboxes.urls.slack}/chat.postMessage`, {
    method: 'POST',
    headers: { Authorization: authorization, 'Content-Type': 'application/json; charset=utf-8' },
    body: JSON.stringify(body),
  });
}

const mail = (to = 'alice@example.com', overrides: object = {}) => ({
  personalizations: [{ to: [{ email: to }] }],
  from: { email: SANDBOX_CREDENTIALS.NOTIFICATION_FROM_EMAIL, name: 'TaskFlow' },
  subject: 'You were assigned a task',
  content: [{ type: 'text/plain', value: 'Write the docs' }],
  ...overrides,
});

function send(body: unknown, authorization: string | null = sendgridKey) {
  return fetch(`${sandboxes.urls.sendgrid}/v3/mail/send`, {
    method: 'POST',
    headers: { ...(authorization ? { Authorization: authorization } : {}), 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A response's JSON body, typed loosely for the assertions. */
const json = async (response: Response | Promise<Response>): Promise<any> => (await response).json();

const control = (path: string, init?: RequestInit) => fetch(`${sandboxes.url}/_sandbox${path}`, init);
const putFault = (service: string, fault: unknown) =>
  control(`/faults/${service}`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fault) });

describe('Slack sandbox', () => {
  it('looks users up by e-mail (form or query), with a stable id per address, and knows who has no Slack', async () => {
    const first = await json(lookup('alice@example.com'));
    expect(first).toMatchObject({ ok: true, user: { id: expect.stringMatching(/^U[0-9A-Z]+$/) } });
    expect((await json(lookup('Alice@Example.com', slackToken, 'query'))).user.id).toBe(first.user.id);
    expect((await json(lookup('bob@example.com'))).user.id).not.toBe(first.user.id);
    const missing = await lookup('carol@no-slack.example');
    expect(missing.status).toBe(200);
    expect(await json(missing)).toEqual({ ok: false, error: 'users_not_found' });
  });

  it('wants the bot token', async () => {
    expect(await json(lookup('alice@example.com', null))).toEqual({ ok: false, error: 'not_authed' });
    expect(await json(lookup('alice@example.com', 'Bearer xoxb-wrong'))).toEqual({ ok: false, error: 'invalid_auth' });
    expect(await json(postMessage({ channel: 'U1', text: 'hi' }, 'Bearer nope'))).toEqual({ ok: false, error: 'invalid_auth' });
  });

  it('posts messages (HTTP 200 with ok, channel and ts, as Slack answers)', async () => {
    const answer = await postMessage({ channel: 'U123', text: 'You were assigned *Write the docs*' });
    expect(answer.status).toBe(200);
    const body = await json(answer);
    expect(body).toMatchObject({ ok: true, channel: 'U123', ts: expect.stringMatching(/^\d+\.\d{6}$/) });
    const again = await json(postMessage({ channel: 'U123', text: 'again' }));
    expect(again.ts).not.toBe(body.ts);
    expect(await json(postMessage({ text: 'nowhere' }))).toEqual({ ok: false, error: 'channel_not_found' });
    expect(await json(postMessage({ channel: 'U123' }))).toEqual({ ok: false, error: 'no_text' });
  });
});

describe('SendGrid sandbox', () => {
  it('accepts a v3 mail send with 202, no body and an X-Message-Id', async () => {
    const answer = await send(mail());
    expect(answer.status).toBe(202);
    expect(answer.headers.get('x-message-id')).toMatch(/^[\w-]{10,}$/);
    expect(await answer.text()).toBe('');
  });

  it('answers 400 with errors for a malformed body or an address at invalid.example, 401 for a bad key', async () => {
    const invalid = await send(mail('dave@invalid.example'));
    expect(invalid.status).toBe(400);
    expect(await json(invalid)).toEqual({ errors: [expect.objectContaining({ message: expect.any(String), field: 'personalizations.0.to.0.email' })] });

    const notJson = await send('{"personalizations": [');
    expect(notJson.status).toBe(400);
    expect((await json(notJson)).errors[0]).toMatchObject({ message: expect.any(String), field: null });

    const incomplete = await send({ personalizations: [], from: {}, content: [] });
    expect(incomplete.status).toBe(400);
    const fields = ((await json(incomplete)).errors as { field: string }[]).map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['personalizations', 'from.email', 'subject', 'content']));

    const unauthorized = await send(mail(), 'Bearer SG.wrong');
    expect(unauthorized.status).toBe(401);
    expect((await json(unauthorized)).errors[0].message).toEqual(expect.any(String));
    expect((await send(mail(), null)).status).toBe(401);

    // Only the verified sender, as SendGrid's Sender Identity rule.
    expect((await send(mail('alice@example.com', { from: { email: 'someone@else.example' } }))).status).toBe(403);
  });
});

describe('recorded calls', () => {
  it('records every call with its headers (lower-case), parsed body and answer, through the control API and the functions', async () => {
    await lookup('alice@example.com');
    await postMessage({ channel: 'U1', text: 'hello', unfurl_links: false });
    await send(mail('erin@example.com'));
    await send(mail('dave@invalid.example'));

    const slack = await json(control('/calls?service=slack'));
    expect(slack).toEqual([
      {
        service: 'slack',
        method: 'POST',
        path: '/users.lookupByEmail',
        headers: expect.objectContaining({ authorization: slackToken, 'content-type': 'application/x-www-form-urlencoded' }),
        body: { email: 'alice@example.com' },
        status: 200,
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
      expect.objectContaining({ path: '/chat.postMessage', body: { channel: 'U1', text: 'hello', unfurl_links: false }, status: 200 }),
    ]);
    expect(Object.keys(slack[0].headers).every((name: string) => name === name.toLowerCase())).toBe(true);

    const sendgrid = sandboxes.calls('sendgrid');
    expect(sendgrid.map((call) => [call.path, call.status, (call.body as any).personalizations[0].to[0].email])).toEqual([
      ['/v3/mail/send', 202, 'erin@example.com'],
      ['/v3/mail/send', 400, 'dave@invalid.example'],
    ]);
    expect(await json(control('/calls'))).toHaveLength(4);
    expect((await control('/calls?service=github')).status).toBe(404);

    expect((await control('/calls', { method: 'DELETE' })).status).toBe(204);
    expect(sandboxes.calls()).toEqual([]);
    await lookup('x@example.com');
    sandboxes.clearCalls();
    expect(await json(control('/calls'))).toEqual([]);
  });
});

describe('faults', () => {
  it('error: answers the status (default 503) for the share of calls errorRate says; the other service is unaffected', async () => {
    expect((await putFault('sendgrid', { mode: 'error' })).status).toBe(200);
    const failed = await send(mail());
    expect(failed.status).toBe(503);
    expect((await json(failed)).errors).toHaveLength(1);
    expect((await postMessage({ channel: 'U1', text: 'still fine' })).status).toBe(200);

    sandboxes.setFault('slack', { mode: 'error', status: 500 });
    const slackDown = await postMessage({ channel: 'U1', text: 'x' });
    expect(slackDown.status).toBe(500);
    expect((await json(slackDown)).ok).toBe(false);

    sandboxes.setFault('sendgrid', { mode: 'error', errorRate: 0 });
    expect((await send(mail())).status).toBe(202);
    sandboxes.setFault('sendgrid', { mode: 'error', errorRate: 0.5, status: 502 });
    const statuses = await Promise.all(Array.from({ length: 60 }, async () => (await send(mail())).status));
    expect(statuses.filter((s) => s === 502).length).toBeGreaterThan(5);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(5);
    // Failed calls are recorded too.
    expect(sandboxes.calls('sendgrid').filter((call) => call.status === 502).length).toBe(statuses.filter((s) => s === 502).length);
  });

  it('rate-limit: 429 with Retry-After', async () => {
    await putFault('slack', { mode: 'rate-limit', retryAfterSeconds: 7 });
    const limited = await postMessage({ channel: 'U1', text: 'x' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(await json(limited)).toEqual({ ok: false, error: 'ratelimited' });
    sandboxes.setFault('sendgrid', { mode: 'rate-limit' });
    const sendgrid = await send(mail());
    expect(sendgrid.status).toBe(429);
    expect(sendgrid.headers.get('retry-after')).toBe('1');
  });

  it('slow: answers normally after latencyMs (a client with a shorter timeout gives up)', async () => {
    await putFault('sendgrid', { mode: 'slow', latencyMs: 400 });
    const started = Date.now();
    expect((await send(mail())).status).toBe(202);
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);

    const timedOut = await fetch(`${sandboxes.urls.sendgrid}/v3/mail/send`, {
      method: 'POST',
      headers: { Authorization: sendgridKey, 'Content-Type': 'application/json' },
      body: JSON.stringify(mail()),
      signal: AbortSignal.timeout(100),
    }).catch((error: Error) => error);
    expect(timedOut).toBeInstanceOf(Error);
    expect(sandboxes.calls('sendgrid').at(-1)!.status).toBeNull(); // no answer yet
  });

  it('down: the connection drops without an answer', async () => {
    await putFault('slack', { mode: 'down' });
    await expect(postMessage({ channel: 'U1', text: 'x' })).rejects.toThrow();
    expect(sandboxes.calls('slack')).toEqual([expect.objectContaining({ path: '/chat.postMessage', status: null })]);
    await putFault('slack', { mode: 'ok' });
    expect((await postMessage({ channel: 'U1', text: 'back' })).status).toBe(200);
  });

  it('reports the faults set, and refuses a malformed setting or an unknown service', async () => {
    await putFault('slack', { mode: 'error', status: 502, errorRate: 0.25 });
    expect(await json(control('/faults'))).toEqual({ slack: { mode: 'error', status: 502, errorRate: 0.25 }, sendgrid: { mode: 'ok' } });
    expect(sandboxes.faults().slack).toEqual({ mode: 'error', status: 502, errorRate: 0.25 });
    expect((await putFault('slack', { mode: 'explode' })).status).toBe(400);
    expect((await putFault('slack', { mode: 'error', errorRate: 2 })).status).toBe(400);
    expect((await putFault('slack', { mode: 'slow', latencyMs: -1 })).status).toBe(400);
    expect((await putFault('github', { mode: 'ok' })).status).toBe(404);
    expect(() => sandboxes.setFault('slack', { mode: 'nope' as never })).toThrow();
    expect(sandboxes.faults().slack.mode).toBe('error'); // unchanged by the refused ones
  });
});
