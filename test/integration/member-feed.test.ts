import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BroadcastEvent } from '../../functions/domain/broadcast';
import { closeRemovedMembers } from '../../functions/domain/feed-removals';
import { connectionsOfMember, registerConnection, subscribe } from '../../functions/domain/feed-registry';
import type { FeedMessage } from '../../functions/domain/messages';

// Issue 17: the broadcast worker drops a removed member from the feed (end to end: test/e2e/member-removal.test.ts).
// Here, with the real registry: every connection of theirs goes, subscribed or not, nobody else's; a close that
// fails leaves the message to be received again.

function removal(orgId: string, userId: string): BroadcastEvent {
  const message: FeedMessage = {
    eventId: randomUUID(), organizationId: orgId, seq: 7, subjectId: randomUUID(), projectId: null, actorId: 'admin',
    occurredAt: new Date().toISOString(), type: 'member.removed', payload: { id: userId },
  };
  return { messageId: `m-${randomUUID()}`, message, requestId: 'req' };
}

async function connect(orgId: string, userId: string, subscribed: boolean): Promise<string> {
  const connectionId = `conn-${randomUUID()}`;
  expect(await registerConnection(orgId, { connectionId, userId, clientId: 'tab' }, 100)).toBe('registered');
  if (subscribed) expect(await subscribe(orgId, connectionId, null)).toBe(true);
  return connectionId;
}

describe('closing a removed member\'s feed connections', () => {
  it('closes and forgets each of their connections, subscribed or not, and nobody else\'s', async () => {
    const orgId = `org_${randomUUID()}`;
    const bob = await Promise.all([connect(orgId, 'bob', true), connect(orgId, 'bob', false)]);
    const ann = await connect(orgId, 'ann', true);
    const closed: string[] = [];
    const failed = await closeRemovedMembers([removal(orgId, 'bob')], async (id) => void closed.push(id), () => undefined);
    expect(failed).toEqual([]);
    expect(closed.sort()).toEqual([...bob].sort());
    expect(await connectionsOfMember(orgId, 'bob')).toEqual([]);
    expect((await connectionsOfMember(orgId, 'ann')).map((c) => c.connectionId)).toEqual([ann]);
  });

  it('answers the message to receive again when a connection cannot be closed, and keeps it registered', async () => {
    const orgId = `org_${randomUUID()}`;
    const connectionId = await connect(orgId, 'bob', true);
    const event = removal(orgId, 'bob');
    const logged: string[] = [];
    const failed = await closeRemovedMembers([event], async () => { throw new Error('@connections answered 500'); }, (message) => void logged.push(message));
    expect(failed).toEqual([event.messageId]);
    expect(logged).toHaveLength(1);
    expect((await connectionsOfMember(orgId, 'bob')).map((c) => c.connectionId)).toEqual([connectionId]);
  });
});
