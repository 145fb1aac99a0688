import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CALENDAR_EVENTS_SCOPE, signedAssertion, type ServiceAccount } from '../../functions/integrations/google-auth';
import { GITHUB_RATE_LIMIT, SANDBOX_CREDENTIALS, SANDBOX_SERVICES, startSandboxes, type Sandboxes } from '../../lib/local/sandboxes';

// The Slack, SendGrid, GitHub and Google Calendar sandboxes: answers like the real APIs for what TaskFlow calls,
// every call recorded, and each fault mode, driven both through the control API and the functions on the object.

let sandboxes: Sandboxes;

beforeAll(async () => {
  sandboxes = await startSandboxes();
});

afterAll(async () => {
  await sandboxes?.stop();
});

beforeEach(() => {
  sandboxes.clearCalls();
  for (const service of SANDBOX_SERVICES) sandboxes.setFault(service, { mode: 'ok' });
  sandboxes.github.setRateLimit({ limit: GITHUB_RATE_LIMIT });
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
        query: {},
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
    expect((await control('/calls?service=gitlab')).status).toBe(404);

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
    expect(await json(control('/faults'))).toEqual({
      slack: { mode: 'error', status: 502, errorRate: 0.25 },
      sendgrid: { mode: 'ok' },
      github: { mode: 'ok' },
      googleCalendar: { mode: 'ok' },
      googleOAuth: { mode: 'ok' },
    });
    expect(sandboxes.faults().slack).toEqual({ mode: 'error', status: 502, errorRate: 0.25 });
    expect((await putFault('slack', { mode: 'explode' })).status).toBe(400);
    expect((await putFault('slack', { mode: 'error', errorRate: 2 })).status).toBe(400);
    expect((await putFault('slack', { mode: 'slow', latencyMs: -1 })).status).toBe(400);
    expect((await putFault('gitlab', { mode: 'ok' })).status).toBe(404);
    expect((await putFault('slack', { mode: 'error', methods: [] })).status).toBe(400);
    expect(() => sandboxes.setFault('slack', { mode: 'nope' as never })).toThrow();
    expect(sandboxes.faults().slack.mode).toBe('error'); // unchanged by the refused ones
  });
});

describe('faults, only some methods', () => {
  it('lost: the call is handled but no answer comes back; methods limit a fault to those calls', async () => {
    const calendarId = `lost-${randomUUID()}`;
    const token = await googleToken();
    sandboxes.setFault('googleCalendar', { mode: 'lost', methods: ['POST'] });
    await expect(insertEvent(calendarId, event('lostevent1'), token)).rejects.toThrow();
    // Made all the same, and the GET (not a POST) is answered.
    expect((await getEvent(calendarId, 'lostevent1', token)).status).toBe(200);
    expect(sandboxes.calls('googleCalendar').map((call) => [call.method, call.status])).toEqual([
      ['POST', null],
      ['GET', 200],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// GitHub

const githubHeaders = (token: string | null = SANDBOX_CREDENTIALS.GITHUB_TOKEN, extra: Record<string, string> = {}) => ({
  ...(token ? { Authorization: `Bearer ${token}` } : {}),
  Accept: 'application/vnd.github+json',
  'User-Agent': 'taskflow-tests',
  ...extra,
});
const listIssues = (repository: string, query: Record<string, string> = {}, headers: Record<string, string> = githubHeaders()) =>
  fetch(`${sandboxes.urls.github}/repos/${repository}/issues?${new URLSearchParams(query)}`, { headers });
/** rel → URL of a Link header. */
const links = (response: Response) =>
  Object.fromEntries([...(response.headers.get('link') ?? '').matchAll(/<([^>]+)>;\s*rel="(\w+)"/g)].map((match) => [match[2], match[1]]));
const rate = (response: Response) => ({
  limit: Number(response.headers.get('x-ratelimit-limit')),
  remaining: Number(response.headers.get('x-ratelimit-remaining')),
  used: Number(response.headers.get('x-ratelimit-used')),
  reset: Number(response.headers.get('x-ratelimit-reset')),
});

/** A repository of its own with `count` issues, updated a minute apart from 2026-01-01, oldest first; every fifth a pull request. */
function seedRepository(count: number): string {
  const repository = `acme/widgets-${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < count; i += 1) {
    sandboxes.github.createIssue(repository, {
      title: `Issue ${i + 1}`,
      body: i % 3 === 0 ? null : `Body ${i + 1}`,
      state: i % 4 === 3 ? 'closed' : 'open',
      pullRequest: i % 5 === 4,
      updatedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    });
  }
  return repository;
}

describe('GitHub sandbox', () => {
  it('lists issues and pull requests (marked pull_request) as GitHub does, paged with Link headers at /repositories/{id}', async () => {
    const repository = seedRepository(7);
    const first = await listIssues(repository, { state: 'all', sort: 'updated', direction: 'asc', per_page: '3' });
    expect(first.status).toBe(200);
    const page1 = await json(first);
    expect(page1.map((issue: any) => issue.number)).toEqual([1, 2, 3]);
    expect(page1[0]).toMatchObject({
      number: 1,
      title: 'Issue 1',
      body: null,
      state: 'open',
      html_url: `https://github.com/${repository}/issues/1`,
      updated_at: '2026-01-01T00:00:00Z',
      node_id: expect.stringMatching(/^I_/),
    });
    expect(page1[0]).not.toHaveProperty('pull_request');
    const pages = links(first);
    expect(pages.next).toMatch(new RegExp(`^${sandboxes.urls.github}/repositories/\\d+/issues\\?.*page=2`));
    expect(pages.last).toContain('page=3');

    const second = await fetch(pages.next!, { headers: githubHeaders() });
    const page2 = await json(second);
    expect(page2.map((issue: any) => issue.number)).toEqual([4, 5, 6]);
    expect(page2[1]).toMatchObject({ number: 5, html_url: `https://github.com/${repository}/pull/5`, pull_request: expect.objectContaining({ url: expect.any(String) }) });
    const third = await fetch(links(second).next!, { headers: githubHeaders() });
    expect((await json(third)).map((issue: any) => issue.number)).toEqual([7]);
    expect(links(third)).not.toHaveProperty('next');
    expect(links(third).prev).toContain('page=2');

    // since (updated at or after), the default state (open) and order (created, newest first).
    const since = await json(listIssues(repository, { state: 'all', sort: 'updated', direction: 'asc', since: '2026-01-01T00:05:00Z' }));
    expect(since.map((issue: any) => issue.number)).toEqual([6, 7]);
    const open = await json(listIssues(repository));
    expect(open.map((issue: any) => issue.number)).toEqual([7, 6, 5, 3, 2, 1]);
    expect((await listIssues(repository, { since: 'yesterday' })).status).toBe(422);
  });

  it('answers If-None-Match with 304 for free while nothing changed; a change makes a new ETag', async () => {
    const repository = seedRepository(3);
    const query = { state: 'all', sort: 'updated', direction: 'asc', per_page: '100' };
    const first = await listIssues(repository, query);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const before = rate(first);

    const unchanged = await listIssues(repository, query, githubHeaders(SANDBOX_CREDENTIALS.GITHUB_TOKEN, { 'If-None-Match': etag }));
    expect(unchanged.status).toBe(304);
    expect(await unchanged.text()).toBe('');
    expect(unchanged.headers.get('etag')).toBe(etag);
    expect(rate(unchanged)).toMatchObject({ remaining: before.remaining, used: before.used });

    sandboxes.github.updateIssue(repository, 2, { state: 'closed' });
    const changed = await listIssues(repository, query, githubHeaders(SANDBOX_CREDENTIALS.GITHUB_TOKEN, { 'If-None-Match': etag }));
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(rate(changed).remaining).toBe(before.remaining - 1);
    const issues = await json(changed);
    expect(issues.at(-1)).toMatchObject({ number: 2, state: 'closed', closed_at: expect.any(String) });
  });

  it('carries the rate limit on every answer, and refuses with 403 and x-ratelimit-remaining 0 once the hour\'s budget is spent', async () => {
    const repository = seedRepository(1);
    sandboxes.github.setRateLimit({ limit: 2 });
    const first = await listIssues(repository);
    expect(rate(first)).toMatchObject({ limit: 2, remaining: 1, used: 1 });
    expect(rate(first).reset).toBeGreaterThan(Date.now() / 1000);
    expect(rate(await listIssues('acme/nothing-here'))).toMatchObject({ remaining: 0, used: 2 }); // a 404 counts too
    const refused = await listIssues(repository);
    expect(refused.status).toBe(403);
    expect(rate(refused)).toMatchObject({ limit: 2, remaining: 0 });
    expect((await json(refused)).message).toMatch(/^API rate limit exceeded/);

    expect(await json(control('/github/rate-limit'))).toMatchObject({ limit: 2, used: 2, remaining: 0 });
    const reset = await control('/github/rate-limit', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ limit: 10 }) });
    expect(await json(reset)).toMatchObject({ limit: 10, used: 0, remaining: 10 });
    expect((await listIssues(repository)).status).toBe(200);
  });

  it('wants the token and a User-Agent; an unknown repository is 404', async () => {
    const repository = seedRepository(1);
    const missing = await listIssues(repository, {}, githubHeaders(null));
    expect(missing.status).toBe(401);
    expect((await json(missing)).message).toBe('Requires authentication');
    const wrong = await listIssues(repository, {}, githubHeaders('ghp_wrong'));
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).message).toBe('Bad credentials');
    expect((await listIssues(repository, {}, { Authorization: `token ${SANDBOX_CREDENTIALS.GITHUB_TOKEN}`, 'User-Agent': '' })).status).toBe(403);
    const unknown = await listIssues('acme/does-not-exist');
    expect(unknown.status).toBe(404);
    expect(await json(unknown)).toMatchObject({ message: 'Not Found' });
  });

  it('takes issues from the control API: create, edit, close, list', async () => {
    const repository = `acme/control-${randomUUID().slice(0, 8)}`;
    const post = (body: object) =>
      control(`/github/repos/${repository}/issues`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const created = await post({ title: 'First', body: 'Text' });
    expect(created.status).toBe(201);
    expect(await json(created)).toMatchObject({ number: 1, title: 'First', body: 'Text', state: 'open', pullRequest: false });
    expect(await json(post({ title: 'A PR', pull_request: true }))).toMatchObject({ number: 2, pullRequest: true });
    expect((await post({ body: 'no title' })).status).toBe(400);

    const patch = (number: number, body: object) =>
      control(`/github/repos/${repository}/issues/${number}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect(await json(patch(1, { title: 'First, edited', state: 'closed' }))).toMatchObject({ title: 'First, edited', state: 'closed', closedAt: expect.any(String) });
    expect((await patch(9, { title: 'x' })).status).toBe(404);
    expect((await json(control(`/github/repos/${repository}/issues`))).map((issue: any) => issue.title)).toEqual(['First, edited', 'A PR']);
    const listed = await json(listIssues(repository, { state: 'closed' }));
    expect(listed).toEqual([expect.objectContaining({ number: 1, title: 'First, edited', state: 'closed' })]);
  });

  it('calls a test\'s hook as a page is served: an edit then shifts the next pages by number; its answer replaces the page', async () => {
    const repository = seedRepository(7);
    const query = { state: 'all', sort: 'updated', direction: 'asc', per_page: '3' };
    const seen: unknown[] = [];
    sandboxes.github.onListIssues((page) => {
      seen.push(page);
      // Issue 2 edited as page 1 is served: it moves to the end, and issue 4 back onto page 1's range.
      if (page.numbers.includes(2) && seen.length === 1) sandboxes.github.updateIssue(repository, 2, { title: 'Two, edited' });
    });
    try {
      const first = await listIssues(repository, query);
      expect((await json(first)).map((issue: any) => issue.number)).toEqual([1, 2, 3]);
      expect(seen).toEqual([{ repository, query, numbers: [1, 2, 3] }]);
      const second = await fetch(links(first).next!, { headers: githubHeaders() });
      expect((await json(second)).map((issue: any) => issue.number)).toEqual([5, 6, 7]);
      const third = await fetch(links(second).next!, { headers: githubHeaders() });
      expect((await json(third)).map((issue: any) => issue.number)).toEqual([2]);

      sandboxes.github.onListIssues((page) => (page.query.page === '2' ? { body: '<html>Bad gateway</html>' } : { status: 403, body: '{"message":"You have exceeded a secondary rate limit."}' }));
      const limited = await listIssues(repository, query);
      expect(limited.status).toBe(403);
      expect(await json(limited)).toEqual({ message: 'You have exceeded a secondary rate limit.' });
      expect(rate(limited).remaining).toBeGreaterThan(0);
      const garbled = await listIssues(repository, { ...query, page: '2' });
      expect(garbled.status).toBe(200);
      expect(await garbled.text()).toBe('<html>Bad gateway</html>');
      expect(garbled.headers.get('link')).toContain('rel="next"');
    } finally {
      sandboxes.github.onListIssues(null);
    }
    expect((await listIssues(repository, query)).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Google: the token endpoint and the Calendar API

const account = (): ServiceAccount => JSON.parse(sandboxes.environment.GOOGLE_CALENDAR_CREDENTIALS!) as ServiceAccount;

function grant(assertion: string, grantType = 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
  return fetch(account().tokenUri, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: grantType, assertion }),
  });
}

async function googleToken(): Promise<string> {
  const answer = await grant(signedAssertion(account(), CALENDAR_EVENTS_SCOPE));
  expect(answer.status).toBe(200);
  return (await json(answer)).access_token;
}

const event = (id: string, date = '2026-03-10', summary = 'Write the docs') => ({ id, summary, description: 'From TaskFlow', start: { date }, end: { date: nextDate(date) } });
const nextDate = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
const eventsUrl = (calendarId: string) => `${sandboxes.urls.googleCalendar}/calendars/${encodeURIComponent(calendarId)}/events`;
const calendarCall = (method: string, url: string, token: string | null, body?: object) =>
  fetch(url, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
const insertEvent = (calendarId: string, body: object, token: string | null) => calendarCall('POST', eventsUrl(calendarId), token, body);
const getEvent = (calendarId: string, id: string, token: string | null) => calendarCall('GET', `${eventsUrl(calendarId)}/${id}`, token);

describe('Google token endpoint', () => {
  it('gives the functions a service account (GOOGLE_CALENDAR_CREDENTIALS) whose JWT-bearer grant it accepts', async () => {
    expect(account()).toEqual({
      clientEmail: SANDBOX_CREDENTIALS.GOOGLE_CLIENT_EMAIL,
      privateKey: expect.stringMatching(/^-----BEGIN PRIVATE KEY-----/),
      tokenUri: `${sandboxes.url}/oauth2/token`,
    });
    const answer = await grant(signedAssertion(account(), CALENDAR_EVENTS_SCOPE));
    expect(answer.status).toBe(200);
    expect(await json(answer)).toEqual({ access_token: expect.stringMatching(/^ya29\./), expires_in: 3600, token_type: 'Bearer' });
  });

  it('refuses a bad signature, another audience or issuer, a stale assertion, another scope or grant type', async () => {
    const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const refusal = async (assertion: string, grantType?: string) => {
      const answer = await grant(assertion, grantType);
      expect(answer.status).toBe(400);
      return json(answer);
    };
    expect(await refusal(signedAssertion({ ...account(), privateKey: otherKey }, CALENDAR_EVENTS_SCOPE))).toEqual({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    // A valid token but not signed by the account: a forged payload under the account's own signature fails too.
    const [header, , signature] = signedAssertion(account(), CALENDAR_EVENTS_SCOPE).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: 'someone@else.example', scope: CALENDAR_EVENTS_SCOPE, aud: account().tokenUri, iat: 1, exp: 2 })).toString('base64url');
    expect((await refusal(`${header}.${forged}.${signature}`)).error_description).toBe('Invalid JWT Signature.');
    expect((await refusal(signedAssertion({ ...account(), tokenUri: 'https://oauth2.googleapis.com/token' }, CALENDAR_EVENTS_SCOPE))).error_description).toMatch(/audience/);
    expect((await refusal(signedAssertion({ ...account(), clientEmail: 'intruder@evil.example' }, CALENDAR_EVENTS_SCOPE))).error).toBe('invalid_grant');
    expect((await refusal(signedAssertion(account(), CALENDAR_EVENTS_SCOPE, Date.now() - 2 * 3_600_000))).error_description).toMatch(/short-lived/);
    expect((await refusal(signedAssertion(account(), 'https://www.googleapis.com/auth/drive'))).error).toBe('invalid_scope');
    expect((await refusal(signedAssertion(account(), CALENDAR_EVENTS_SCOPE), 'client_credentials')).error).toBe('unsupported_grant_type');
    expect((await refusal('not-a-jwt')).error).toBe('invalid_grant');
  });

  it('stays up while the Calendar API is down (its own sandbox, with its own faults)', async () => {
    sandboxes.setFault('googleCalendar', { mode: 'error', status: 503 });
    const token = await googleToken();
    expect((await insertEvent(`c-${randomUUID()}`, event('healthtoken1'), token)).status).toBe(503);
    sandboxes.setFault('googleOAuth', { mode: 'error', status: 500 });
    expect((await grant(signedAssertion(account(), CALENDAR_EVENTS_SCOPE))).status).toBe(500);
  });
});

describe('Google Calendar sandbox', () => {
  it('inserts with a chosen id (409 once used, even deleted), updates (404 if none), deletes (204, then 410; 404 never made)', async () => {
    const calendarId = `team-${randomUUID()}@group.calendar.google.com`;
    const token = await googleToken();
    const url = (id: string) => `${eventsUrl(calendarId)}/${id}`;

    const inserted = await insertEvent(calendarId, event('taskevent001'), token);
    expect(inserted.status).toBe(200);
    expect(await json(inserted)).toMatchObject({ kind: 'calendar#event', id: 'taskevent001', status: 'confirmed', summary: 'Write the docs', start: { date: '2026-03-10' }, end: { date: '2026-03-11' } });
    const duplicate = await insertEvent(calendarId, event('taskevent001'), token);
    expect(duplicate.status).toBe(409);
    expect((await json(duplicate)).error).toMatchObject({ code: 409, errors: [expect.objectContaining({ reason: 'duplicate' })] });

    expect((await calendarCall('PUT', url('nosuchevent1'), token, event('nosuchevent1'))).status).toBe(404);
    const updated = await calendarCall('PUT', url('taskevent001'), token, event('taskevent001', '2026-03-12', 'Write more docs'));
    expect(updated.status).toBe(200);
    expect(await json(updated)).toMatchObject({ summary: 'Write more docs', start: { date: '2026-03-12' }, sequence: 1 });

    expect((await calendarCall('DELETE', url('taskevent001'), token)).status).toBe(204);
    expect((await calendarCall('DELETE', url('taskevent001'), token)).status).toBe(410);
    expect((await calendarCall('DELETE', url('nosuchevent1'), token)).status).toBe(404);
    expect(await json(getEvent(calendarId, 'taskevent001', token))).toMatchObject({ status: 'cancelled' });
    expect((await insertEvent(calendarId, event('taskevent001'), token)).status).toBe(409); // a deleted event's id stays used
    // An update restores a deleted event.
    expect(await json(calendarCall('PUT', url('taskevent001'), token, event('taskevent001')))).toMatchObject({ status: 'confirmed' });
    expect((await json(calendarCall('GET', eventsUrl(calendarId), token))).items.map((item: any) => item.id)).toEqual(['taskevent001']);
    expect(sandboxes.googleCalendar.events(calendarId)).toEqual([expect.objectContaining({ id: 'taskevent001', status: 'confirmed' })]);
  });

  it('changes an event\'s etag on every write, and makes an update or a delete with If-Match conditional (412 on another etag)', async () => {
    const calendarId = `c-${randomUUID()}`;
    const token = await googleToken();
    const url = `${eventsUrl(calendarId)}/ifmatchevent1`;
    const conditional = (method: string, etag: string, body?: object) =>
      fetch(url, { method, headers: { Authorization: `Bearer ${token}`, 'If-Match': etag, ...(body ? { 'Content-Type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });

    const inserted = await insertEvent(calendarId, event('ifmatchevent1'), token);
    const first = (await json(inserted)).etag;
    expect(inserted.headers.get('etag')).toBe(first);
    const read = await getEvent(calendarId, 'ifmatchevent1', token);
    expect(read.headers.get('etag')).toBe(first);
    expect((await json(read)).etag).toBe(first);

    const updated = await conditional('PUT', first, event('ifmatchevent1', '2026-03-11', 'Changed'));
    expect(updated.status).toBe(200);
    const second = (await json(updated)).etag;
    expect(second).not.toBe(first);
    const stale = await conditional('PUT', first, event('ifmatchevent1', '2026-03-12', 'Lost update'));
    expect(stale.status).toBe(412);
    expect((await json(stale)).error).toMatchObject({ code: 412, errors: [expect.objectContaining({ reason: 'conditionNotMet', location: 'If-Match' })] });
    expect((await conditional('DELETE', first)).status).toBe(412);
    expect(sandboxes.googleCalendar.events(calendarId)).toEqual([expect.objectContaining({ summary: 'Changed', etag: second, status: 'confirmed' })]);

    expect((await conditional('DELETE', second)).status).toBe(204);
    const cancelled = await json(getEvent(calendarId, 'ifmatchevent1', token));
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.etag).not.toBe(second);
    // A deleted event is brought back by an update with its current etag (or `*`).
    expect((await conditional('PUT', second, event('ifmatchevent1'))).status).toBe(412);
    expect(await json(conditional('PUT', '*', event('ifmatchevent1')))).toMatchObject({ status: 'confirmed' });
  });

  it('checks the token, the event and the calendar\'s access', async () => {
    const calendarId = `c-${randomUUID()}`;
    const token = await googleToken();
    const unauthenticated = await insertEvent(calendarId, event('tokenless01'), null);
    expect(unauthenticated.status).toBe(401);
    expect((await json(unauthenticated)).error.status).toBe('UNAUTHENTICATED');
    expect((await insertEvent(calendarId, event('tokenless01'), 'ya29.forged')).status).toBe(401);

    const invalidDate = await insertEvent(calendarId, { ...event('baddate001'), start: { date: '2026-02-30' } }, token);
    expect(invalidDate.status).toBe(400);
    expect((await json(invalidDate)).error.message).toBe('Invalid start time.');
    expect((await insertEvent(calendarId, { ...event('emptrange01'), end: { date: '2026-03-10' } }, token)).status).toBe(400);
    expect((await insertEvent(calendarId, event('UPPERCASE-id'), token)).status).toBe(400);

    sandboxes.googleCalendar.setCalendarAccess(calendarId, 'reader');
    const readOnly = await insertEvent(calendarId, event('readaccess01'), token);
    expect(readOnly.status).toBe(403);
    expect((await json(readOnly)).error.errors[0].reason).toBe('requiredAccessLevel');
    const share = await control(`/googleCalendar/calendars/${encodeURIComponent(calendarId)}`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ access: 'none' }) });
    expect(share.status).toBe(200);
    expect((await insertEvent(calendarId, event('unshared001'), token)).status).toBe(404);

    sandboxes.googleCalendar.revokeTokens();
    expect((await insertEvent(`c-${randomUUID()}`, event('revoked0001'), token)).status).toBe(401);
  });
});
