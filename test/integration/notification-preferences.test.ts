import { randomUUID } from 'node:crypto';
import type { Message } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, newCaller, type Caller } from '../support/api';
import { notificationPipeline } from '../support/notification-pipeline';
import { drain } from '../support/queues';
import { sql } from '../support/sql';

// Issue 17: notification preferences and watchers, through the real notifications, Slack and e-mail workers and
// the Slack and SendGrid sandboxes: a muted channel or project sends nothing while the others still do, a change
// takes effect for the events after it, and who stops watching a task stops being told about it.
const pipeline = notificationPipeline();

async function deliver(queue: 'notifications' | 'slack' | 'email', messages: Message[]): Promise<void> {
  if (messages.length > 0) expect(await pipeline.deliver(queue, messages)).toEqual([]);
}

/** Everything queued so far, through the notifications worker and both senders to the sandboxes. */
async function sendAll(): Promise<void> {
  await deliver('notifications', await drain(pipeline.sqs, 'notifications'));
  await deliver('slack', await drain(pipeline.sqs, 'slack'));
  await deliver('email', await drain(pipeline.sqs, 'email'));
}

async function member(org: Caller, name: string): Promise<Caller> {
  const caller = { orgId: org.orgId, userId: `user_${randomUUID()}`, email: `${name.toLowerCase()}.${randomUUID().slice(0, 8)}@example.com`, name };
  expect((await invoke('listProjects', caller)).status).toBe(200);
  return caller;
}

/** The Slack messages sent (their texts) and the e-mails (`address: subject`). */
function delivered() {
  const slackTexts = pipeline.sandboxes.calls('slack').filter((c) => c.path === '/chat.postMessage' && c.status === 200).map((c) => (c.body as { text: string }).text);
  const emails = pipeline.sandboxes.calls('sendgrid').filter((c) => c.status === 202).map((c) => c.body as { personalizations: { to: { email: string }[] }[]; subject: string });
  return {
    slackTexts: slackTexts.sort(),
    emailsTo: emails.map((mail) => `${mail.personalizations[0]!.to[0]!.email}: ${mail.subject}`).sort(),
  };
}

const preferences = (caller: Caller, body: Record<string, unknown>) => invoke('updatePreferences', caller, { body });

describe('notification preferences', () => {
  it('sends nothing on a muted channel while the member\'s other channel and the other members still get theirs', async () => {
    const ann = { ...newCaller(), name: 'Ann Lee', email: `ann.${randomUUID().slice(0, 8)}@example.com` };
    const bob = await member(ann, 'Bob');
    const dan = await member(ann, 'Dan');
    const project = await createProject(ann);
    expect((await preferences(bob, { slack: false })).body).toEqual({ slack: false, email: true, mutedProjectIds: [] });
    expect((await preferences(dan, { email: false })).body).toEqual({ slack: true, email: false, mutedProjectIds: [] });
    await createTask(ann, project.id, { title: 'For Bob', assigneeId: bob.userId });
    await createTask(ann, project.id, { title: 'For Dan', assigneeId: dan.userId });
    await sendAll();
    const { slackTexts, emailsTo } = delivered();
    expect(emailsTo).toEqual([`${bob.email}: You were assigned: For Bob`]);
    expect(slackTexts).toEqual(['Ann Lee assigned you the task "For Dan".']);
  });

  it('sends nothing about a muted project while the member still hears about the others', async () => {
    const ann = { ...newCaller(), name: 'Ann Lee' };
    const bob = await member(ann, 'Bob');
    const quiet = await createProject(ann, 'Quiet');
    const loud = await createProject(ann, 'Loud');
    expect((await preferences(bob, { mutedProjectIds: [quiet.id] })).body).toEqual({ slack: true, email: true, mutedProjectIds: [quiet.id] });
    expect((await invoke('getMe', bob)).body).toMatchObject({ id: bob.userId, name: 'Bob', preferences: { mutedProjectIds: [quiet.id] } });
    await createTask(ann, quiet.id, { title: 'Hushed', assigneeId: bob.userId });
    await createTask(ann, loud.id, { title: 'Heard', assigneeId: bob.userId });
    await sendAll();
    const { slackTexts, emailsTo } = delivered();
    expect(slackTexts).toEqual(['Ann Lee assigned you the task "Heard".']);
    expect(emailsTo).toEqual([`${bob.email}: You were assigned: Heard`]);
  });

  it('applies a change to the events after it, even when an earlier event is taken into effect later', async () => {
    const ann = { ...newCaller(), name: 'Ann Lee' };
    const bob = await member(ann, 'Bob');
    const project = await createProject(ann);
    await createTask(ann, project.id, { title: 'Before', assigneeId: bob.userId });
    // The worker has not taken "Before" into effect yet when Bob turns e-mail off.
    expect((await preferences(bob, { email: false })).status).toBe(200);
    await createTask(ann, project.id, { title: 'After', assigneeId: bob.userId });
    await sendAll();
    expect(delivered().emailsTo).toEqual([`${bob.email}: You were assigned: Before`]);
    expect(delivered().slackTexts).toEqual(['Ann Lee assigned you the task "After".', 'Ann Lee assigned you the task "Before".']);
  });

  it('records each change as a preferences.updated event naming only the member, and none when nothing changed', async () => {
    const bob = { ...newCaller(), name: 'Bob' };
    const project = await createProject(bob);
    const types = async () => (await sql<{ type: string; payload: unknown }>('SELECT type, payload FROM event_log WHERE organization_id = $1 ORDER BY seq', [bob.orgId]));
    const first = await invoke('updatePreferences', bob, { body: { mutedProjectIds: [project.id] }, headers: { 'Idempotency-Key': 'mute-1' } });
    const replay = await invoke('updatePreferences', bob, { body: { mutedProjectIds: [project.id] }, headers: { 'Idempotency-Key': 'mute-1' } });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect((await invoke('updatePreferences', bob, { body: { mutedProjectIds: [project.id] } })).body).toEqual(first.body);
    expect(await types()).toEqual([
      { type: 'project.created', payload: expect.anything() },
      { type: 'preferences.updated', payload: { userId: bob.userId } },
    ]);
    expect((await invoke('getPreferences', bob)).body).toEqual({ slack: true, email: true, mutedProjectIds: [project.id] });
  });

  it('answers bad input with a 4xx problem', async () => {
    const bob = newCaller();
    for (const body of [{}, { slack: 'no' }, { mutedProjectIds: ['not-a-uuid'] }, { mutedProjectIds: 'x' }, { push: true }]) {
      const response = await preferences(bob, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    }
    const id = randomUUID();
    expect((await preferences(bob, { mutedProjectIds: [id, id] })).status).toBe(400);
    // A project that is not the organization's (or not at all) is not found, and nothing changed.
    expect((await preferences(bob, { mutedProjectIds: [id] })).status).toBe(404);
    expect((await invoke('getPreferences', bob)).body).toEqual({ slack: true, email: true, mutedProjectIds: [] });
  });
});

describe('watchers', () => {
  it('tells the watchers of a status change: who chose to watch, not who stopped (an implicit watcher too)', async () => {
    const ann = { ...newCaller(), name: 'Ann Lee', email: `ann.${randomUUID().slice(0, 8)}@example.com` };
    const bob = await member(ann, 'Bob');
    const cid = await member(ann, 'Cid');
    const dan = await member(ann, 'Dan');
    const project = await createProject(ann);
    const task = await createTask(ann, project.id, { title: 'Roadmap', assigneeId: bob.userId });
    expect((await invoke('createComment', cid, { params: { taskId: task.id }, body: { body: 'On it' } })).status).toBe(201);
    // Ann (creator), Bob (assignee) and Cid (commenter) watch it without asking.
    const names = async () => (await invoke('listWatchers', ann, { params: { taskId: task.id } })).body.items.map((w: any) => `${w.name}:${w.reasons.join('+')}`);
    expect(await names()).toEqual(['Ann Lee:creator', 'Bob:assignee', 'Cid:commenter']);

    expect((await invoke('unwatchTask', cid, { params: { taskId: task.id }, headers: { 'Idempotency-Key': 'unwatch-1' } })).status).toBe(204);
    const unwatchReplayed = await invoke('unwatchTask', cid, { params: { taskId: task.id }, headers: { 'Idempotency-Key': 'unwatch-1' } });
    expect({ status: unwatchReplayed.status, replayed: unwatchReplayed.headers['idempotent-replayed'] }).toEqual({ status: 204, replayed: 'true' });
    expect((await invoke('watchTask', dan, { params: { taskId: task.id }, headers: { 'Idempotency-Key': 'watch-1' } })).status).toBe(204);
    expect((await invoke('watchTask', dan, { params: { taskId: task.id }, headers: { 'Idempotency-Key': 'watch-1' } })).headers['idempotent-replayed']).toBe('true');
    expect((await invoke('watchTask', dan, { params: { taskId: task.id } })).status).toBe(204); // already watching: no change
    expect(await names()).toEqual(['Ann Lee:creator', 'Bob:assignee', 'Dan:explicit']);
    const events = await sql<{ type: string; payload: unknown }>(
      "SELECT type, payload FROM event_log WHERE organization_id = $1 AND type LIKE 'watcher.%' ORDER BY seq",
      [ann.orgId],
    );
    expect(events).toEqual([
      { type: 'watcher.removed', payload: { taskId: task.id, userId: cid.userId, watching: false } },
      { type: 'watcher.added', payload: { taskId: task.id, userId: dan.userId, watching: true } },
    ]);

    await drain(pipeline.sqs, 'notifications');
    expect((await invoke('updateTask', bob, { params: { taskId: task.id }, body: { version: 1, status: 'in_progress' } })).status).toBe(200);
    await sendAll();
    // Bob moved it himself; Cid stopped watching; Ann and Dan are told, on both channels.
    expect(delivered().emailsTo).toEqual([`${ann.email}: Roadmap: In progress`, `${dan.email}: Roadmap: In progress`].sort());
    expect(delivered().slackTexts).toEqual(['Bob moved "Roadmap" from To do to In progress.', 'Bob moved "Roadmap" from To do to In progress.']);

    // Cid watches again: told of the next change.
    expect((await invoke('watchTask', cid, { params: { taskId: task.id } })).status).toBe(204);
    pipeline.sandboxes.clearCalls();
    await invoke('updateTask', bob, { params: { taskId: task.id }, body: { version: 2, status: 'done' } });
    await sendAll();
    expect(delivered().emailsTo).toEqual([ann, cid, dan].map((who) => `${who.email}: Roadmap: Done`).sort());
  });

  it('answers an unknown or malformed task id with 404', async () => {
    const ann = newCaller();
    for (const operationId of ['watchTask', 'unwatchTask', 'listWatchers'] as const) {
      for (const taskId of [randomUUID(), 'not-a-uuid']) {
        const response = await invoke(operationId, ann, { params: { taskId } });
        expect(response.status, `${operationId} ${taskId}`).toBe(404);
        expect(response.body.code).toBe('NOT_FOUND');
      }
    }
  });
});
