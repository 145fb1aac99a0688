import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { BREAKER_POLICY } from '../../functions/integrations/breaker';
import { logger } from '../../functions/shared/logger';
import { NO_SLACK_DOMAIN } from '../../lib/local/sandboxes';
import { createProject, createTask, invoke, newCaller, type Caller } from '../support/api';
import { notificationPipeline } from '../support/notification-pipeline';
import { bodyOf, drain } from '../support/queues';
import { sql } from '../support/sql';

// Issue 4: who is told what, once; correlation from the request to the outbound call (review M6);
// poison messages fail (towards the DLQ) without holding up the rest of their batch.
const pipeline = notificationPipeline();
const { deliver } = pipeline;

async function member(org: Caller, email: string, name: string): Promise<Caller> {
  const caller = { orgId: org.orgId, userId: `user_${randomUUID()}`, email, name };
  expect((await invoke('listProjects', caller)).status).toBe(200); // provisions the member with their e-mail
  return caller;
}

async function team() {
  const org = newCaller();
  const ann = await member(org, `ann.${randomUUID().slice(0, 8)}@example.com`, 'Ann Lee');
  const bob = await member(org, `bob.${randomUUID().slice(0, 8)}@example.com`, 'Bob Stone');
  const cid = await member(org, `cid.${randomUUID().slice(0, 8)}@${NO_SLACK_DOMAIN}`, 'Cid Moss');
  return { ann, bob, cid, project: await createProject(ann) };
}

const slackPosts = () => pipeline.sandboxes.calls('slack').filter((call) => call.path === '/chat.postMessage' && call.status === 200);
const emails = () => pipeline.sandboxes.calls('sendgrid').filter((call) => call.status === 202);

describe('notifications', () => {
  it('tells the assignee once by Slack and once by e-mail, even when every message is delivered twice', async () => {
    const { ann, bob, project } = await team();
    const created = await invoke('createTask', ann, {
      params: { projectId: project.id },
      body: { title: 'Fix login', assigneeId: bob.userId },
      headers: { 'X-Request-Id': 'req-assign-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    expect(created.status).toBe(201);
    const events = await drain(pipeline.sqs, 'notifications');
    expect(events).toHaveLength(1);
    // The same event twice in one batch, then again in another.
    expect(await deliver('notifications', [events[0]!, events[0]!])).toEqual([]);
    expect(await deliver('notifications', events)).toEqual([]);
    expect(await sql('SELECT user_id, kind FROM notifications WHERE event_id = $1', [bodyOf(events[0]!).eventId])).toEqual([{ user_id: bob.userId, kind: 'assigned' }]);

    const slack = await drain(pipeline.sqs, 'slack');
    const mail = await drain(pipeline.sqs, 'email');
    expect(slack).toHaveLength(1);
    expect(mail).toHaveLength(1);
    // Two copies at once: one sends, the other finds it in progress and fails, to come back later
    // and find it sent. The first copy's record survives the second one's failure.
    // (The services answer slowly here, so the second copy surely starts while the first is sending.)
    pipeline.sandboxes.setFault('slack', { mode: 'slow', latencyMs: 300 });
    pipeline.sandboxes.setFault('sendgrid', { mode: 'slow', latencyMs: 300 });
    expect(await deliver('slack', [slack[0]!, slack[0]!])).toEqual([slack[0]!.MessageId]);
    expect(await deliver('email', [mail[0]!, mail[0]!])).toEqual([mail[0]!.MessageId]);
    pipeline.sandboxes.setFault('slack', { mode: 'ok' });
    pipeline.sandboxes.setFault('sendgrid', { mode: 'ok' });
    expect(await deliver('slack', slack)).toEqual([]);
    expect(await deliver('email', mail)).toEqual([]);

    expect(slackPosts()).toHaveLength(1);
    expect(slackPosts()[0]!.body).toMatchObject({ text: 'Ann Lee assigned you the task "Fix login".' });
    expect(emails()).toHaveLength(1);
    expect(emails()[0]!.body).toMatchObject({ personalizations: [{ to: [{ email: bob.email }] }], subject: 'You were assigned: Fix login' });
    // The request's id and trace reach every outbound call.
    for (const call of [...pipeline.sandboxes.calls('slack'), ...pipeline.sandboxes.calls('sendgrid')]) {
      expect(call.headers['x-request-id']).toBe('req-assign-1');
      expect(call.headers.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    }
  });

  it('tells the @mentioned and, on a status change, the watchers but never the actor', async () => {
    const { ann, bob, cid, project } = await team();
    const task = await createTask(ann, project.id, { title: 'Roadmap', assigneeId: bob.userId });
    await invoke('createComment', cid, { params: { taskId: task.id }, body: { body: 'I can help, @AnnLee.' } });
    await invoke('createComment', ann, { params: { taskId: task.id }, body: { body: `@${bob.email!.split('@')[0]} and @CidMoss, please look` } });
    await invoke('updateTask', bob, { params: { taskId: task.id }, body: { version: 1, status: 'in_progress' } });
    expect(await deliver('notifications', await drain(pipeline.sqs, 'notifications'))).toEqual([]);
    const told = await sql(
      `SELECT n.user_id, n.kind FROM notifications n JOIN event_log e ON e.id = n.event_id WHERE e.organization_id = $1 ORDER BY e.seq, n.user_id`,
      [ann.orgId],
    );
    const byKind = (kind: string) => told.filter((n) => n.kind === kind).map((n) => n.user_id).sort();
    expect(byKind('assigned')).toEqual([bob.userId]);
    expect(byKind('mentioned')).toEqual([ann.userId, bob.userId, cid.userId].sort());
    // Bob moved it: Ann (creator) and Cid (commenter) are told, Bob is not.
    expect(byKind('status_changed')).toEqual([ann.userId, cid.userId].sort());
  });

  it('records a permanent failure (no Slack account) without retrying it, and still sends the e-mail', async () => {
    const { ann, cid, project } = await team();
    await createTask(ann, project.id, { title: 'For Cid', assigneeId: cid.userId });
    expect(await deliver('notifications', await drain(pipeline.sqs, 'notifications'))).toEqual([]);
    expect(await deliver('slack', await drain(pipeline.sqs, 'slack'))).toEqual([]);
    expect(await deliver('email', await drain(pipeline.sqs, 'email'))).toEqual([]);
    expect(slackPosts()).toHaveLength(0);
    expect(pipeline.sandboxes.calls('slack').map((call) => call.path)).toEqual(['/users.lookupByEmail']);
    expect(emails()).toHaveLength(1);
  });

  it('fails only the Slack messages during a Slack outage, and sends each once when Slack is back', async () => {
    const { ann, bob, project } = await team();
    for (const title of ['one', 'two', 'three']) await createTask(ann, project.id, { title, assigneeId: bob.userId });
    expect(await deliver('notifications', await drain(pipeline.sqs, 'notifications'))).toEqual([]);
    const slack = await drain(pipeline.sqs, 'slack');
    expect(slack).toHaveLength(3);
    pipeline.sandboxes.setFault('slack', { mode: 'error', status: 503 });
    expect((await deliver('slack', slack)).sort()).toEqual(slack.map((m) => m.MessageId).sort());
    pipeline.sandboxes.setFault('slack', { mode: 'down' });
    expect(await deliver('slack', slack)).toHaveLength(3);
    // Slack is back, but its circuit breaker opened during the outage (review C4): nothing is tried...
    pipeline.sandboxes.setFault('slack', { mode: 'ok' });
    pipeline.sandboxes.clearCalls();
    expect(await deliver('slack', slack)).toHaveLength(3);
    expect(pipeline.sandboxes.calls('slack')).toEqual([]);
    // ...until it turns half-open: one trial call goes (the others are refused while it is under way), its
    // success closes the breaker, and the rest go on the next receive.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + BREAKER_POLICY.halfOpenAfterMs);
      expect((await deliver('slack', slack)).length).toBeLessThan(3);
      expect(await deliver('slack', slack)).toEqual([]);
      expect(await deliver('slack', slack)).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
    expect(slackPosts().map((call) => (call.body as { text: string }).text).sort()).toEqual(
      ['one', 'three', 'two'].map((title) => `Ann Lee assigned you the task "${title}".`),
    );
  });

  it('keeps the e-mail of a task with a 500-character title (its subject clipped)', async () => {
    const { ann, bob, project } = await team();
    const title = `${'Long title '.repeat(45)}end`.slice(0, 500);
    await createTask(ann, project.id, { title, assigneeId: bob.userId });
    expect(await deliver('notifications', await drain(pipeline.sqs, 'notifications'))).toEqual([]);
    expect(await deliver('email', await drain(pipeline.sqs, 'email'))).toEqual([]);
    expect(emails()).toHaveLength(1);
    const mail = emails()[0]!.body as { subject: string; content: { value: string }[] };
    expect(mail.subject.length).toBeLessThanOrEqual(200);
    expect(mail.content[0]!.value).toContain(title);
  });

  it('fails a poison message on every receive, with its reason logged, and processes the rest of its batch', async () => {
    const errors = vi.spyOn(logger, 'error');
    const { ann, bob, project } = await team();
    await createTask(ann, project.id, { title: 'fine', assigneeId: bob.userId });
    const [good] = await drain(pipeline.sqs, 'notifications');
    const poison = { ...good!, MessageId: randomUUID(), Body: JSON.stringify({ ...bodyOf(good!), eventId: 'not-a-uuid' }) };
    const notJson = { ...good!, MessageId: randomUUID(), Body: '{"truncated' };
    expect((await deliver('notifications', [poison, good!, notJson])).sort()).toEqual([poison.MessageId, notJson.MessageId].sort());
    expect(errors.mock.calls.map(([message, details]) => [message, (details as { reason: string }).reason])).toEqual([
      ['poison message: it will reach the dead-letter queue', 'eventId: Invalid UUID'],
      ['poison message: it will reach the dead-letter queue', 'the body is not JSON'],
    ]);
    expect(await sql('SELECT 1 FROM consumed_events WHERE event_id = $1', [bodyOf(good!).eventId])).toHaveLength(1);
    expect(await deliver('notifications', [poison])).toEqual([poison.MessageId]);
  });
});
