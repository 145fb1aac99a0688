import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WebSocket } from 'ws';
import { subscribedConnections } from '../../functions/domain/feed-registry';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';

// Issue 17: a member an admin removed is refused from then on, with the token they still hold: on REST (403
// MEMBER_REMOVED, in a Lambda environment that already knew them as a member) and on the feed (their open
// connection is closed, a new handshake refused), while the rest of the organization goes on as before.
let runtime: LocalRuntime;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-members-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: inject('databaseUrl'), schedules: false });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
}

/** A raw feed connection, subscribed to the organization, recording the types of the events it receives. */
async function subscribe(token: string): Promise<{ socket: WebSocket; types: string[]; closed: Promise<number> }> {
  const socket = new WebSocket(`${runtime.websocketUrl}?token=${encodeURIComponent(token)}&clientId=tab-${randomUUID().slice(0, 8)}`);
  const types: string[] = [];
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  const subscribed = new Promise<void>((resolve) =>
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === 'subscribed') resolve();
      if (frame.type === 'events') types.push(...frame.events.filter((e: any) => !e.skipped).map((e: any) => e.type));
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ action: 'subscribe' }));
  await subscribed;
  return { socket, types, closed };
}

async function until(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('removing a member', () => {
  it('refuses them on REST (403 MEMBER_REMOVED) and drops them from the feed, while the others go on', async () => {
    const org = `org_${randomUUID()}`;
    const ann = await runtime.issuer.mint({ org, user: `ann_${randomUUID().slice(0, 8)}`, role: 'admin', name: 'Ann Lee' });
    const bobId = `bob_${randomUUID().slice(0, 8)}`;
    const bob = await runtime.issuer.mint({ org, user: bobId, name: 'Bob Stone' });
    const project = (await call(ann, 'POST', '/projects', { name: 'Launch' })).body;
    const task = (await call(ann, 'POST', `/projects/${project.id}/tasks`, { title: 'Ship', assigneeId: null })).body;
    // Bob is a member the runtime's environments know, with a task assigned to him and both feeds open.
    expect((await call(bob, 'GET', `/projects/${project.id}`)).status).toBe(200);
    expect((await call(ann, 'PATCH', `/tasks/${task.id}`, { version: 1, assigneeId: bobId })).status).toBe(200);
    const annFeed = await subscribe(ann);
    const bobFeed = await subscribe(bob);
    await until(async () => (await subscribedConnections(org)).length === 2, 10_000, 'both subscriptions');

    expect((await call(bob, 'DELETE', `/members/${bobId}`)).body.code).toBe('ADMIN_ONLY');
    expect((await call(ann, 'DELETE', `/members/${bobId}`)).status).toBe(204);

    // REST: refused from now on, on reads and writes alike.
    for (const [method, path] of [['GET', `/projects/${project.id}`], ['GET', '/me'], ['POST', '/projects']] as const) {
      const answer = await call(bob, method, path, method === 'POST' ? { name: 'Mine' } : undefined);
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(answer.body.code).toBe('MEMBER_REMOVED');
    }
    // The feed: his connection is closed, a new handshake refused; Ann's stays and hears of it.
    await bobFeed.closed;
    await until(async () => (await subscribedConnections(org)).length === 1, 10_000, 'Bob to leave the registry');
    await expect(subscribe(bob)).rejects.toThrow(/403/);
    await call(ann, 'POST', '/projects', { name: 'After Bob' });
    await until(() => annFeed.types.includes('project.created'), 10_000, 'Ann to hear of the next change');
    expect(annFeed.types).toContain('member.removed');
    expect(bobFeed.types).not.toContain('project.created');

    // His assignment stays, and the member list shows him as removed only when asked.
    expect((await call(ann, 'GET', `/tasks/${task.id}`)).body.assigneeId).toBe(bobId);
    expect((await call(ann, 'GET', '/members')).body.items.map((m: any) => m.id)).not.toContain(bobId);
    const all = (await call(ann, 'GET', '/members?includeRemoved=true')).body.items;
    expect(all.find((m: any) => m.id === bobId)).toMatchObject({ name: 'Bob Stone', role: 'member', removedAt: expect.any(String) });
    // Removing him again changes nothing and answers the same.
    expect((await call(ann, 'DELETE', `/members/${bobId}`)).status).toBe(204);
    annFeed.socket.close();
  }, 60_000);
});
