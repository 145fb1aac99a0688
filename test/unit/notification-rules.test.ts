import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { EventMessage } from '../../functions/domain/messages';
import { decide, handleMatches, mentionsIn } from '../../functions/domain/notifications';

const task = (fields: Record<string, unknown> = {}) => ({
  id: randomUUID(), projectId: randomUUID(), title: 'Fix login', description: '', status: 'todo', priority: 'none',
  assigneeId: null, dueDate: null, labels: [], version: 1, createdBy: 'ann', createdAt: '', updatedAt: '', ...fields,
});
const envelope = { eventId: randomUUID(), organizationId: 'org', seq: 1, subjectId: randomUUID(), projectId: randomUUID(), actorId: 'ann', occurredAt: '' };
const event = (message: Record<string, unknown>) => ({ ...envelope, ...message }) as EventMessage;
const nobody = { watchers: [], mentioned: [] };

describe('who is told what', () => {
  it('tells the assignee of a new task, unless they assigned themselves', () => {
    expect(decide(event({ type: 'task.created', payload: task({ assigneeId: 'bob' }), previous: null }), nobody)).toMatchObject([{ userId: 'bob', kind: 'assigned' }]);
    expect(decide(event({ type: 'task.created', payload: task({ assigneeId: 'ann' }), previous: null }), nobody)).toEqual([]);
  });

  it('tells a new assignee on an update, and nobody when the assignee stays', () => {
    const reassigned = event({ type: 'task.updated', payload: task({ assigneeId: 'cid' }), previous: { status: 'todo', assigneeId: 'bob' } });
    expect(decide(reassigned, nobody)).toMatchObject([{ userId: 'cid', kind: 'assigned' }]);
    const retitled = event({ type: 'task.updated', payload: task({ assigneeId: 'bob', title: 'x' }), previous: { status: 'todo', assigneeId: 'bob' } });
    expect(decide(retitled, { watchers: ['bob'], mentioned: [] })).toEqual([]);
  });

  it('tells the watchers but not the actor when the status changes', () => {
    const moved = event({ type: 'task.updated', payload: task({ status: 'done' }), previous: { status: 'todo', assigneeId: null } });
    const told = decide(moved, { watchers: ['ann', 'bob', 'cid'], mentioned: [] });
    expect(told.map((n) => [n.userId, n.kind])).toEqual([['bob', 'status_changed'], ['cid', 'status_changed']]);
  });

  it('tells the members mentioned in a comment, once each', () => {
    const comment = { id: randomUUID(), taskId: randomUUID(), authorId: 'ann', body: '@bob @bob and @cid', createdAt: '' };
    const told = decide(event({ type: 'comment.created', payload: comment, previous: null }), { watchers: [], mentioned: ['bob', 'cid', 'ann'] });
    expect(told.map((n) => n.userId)).toEqual(['bob', 'cid']);
  });

  it('derives the same notification ids from the same event, so a redelivery names the same notifications', () => {
    const created = event({ type: 'task.created', payload: task({ assigneeId: 'bob' }), previous: null });
    expect(decide(created, nobody)).toEqual(decide(structuredClone(created), nobody));
    expect(decide({ ...created, eventId: randomUUID() }, nobody)[0]!.id).not.toBe(decide(created, nobody)[0]!.id);
  });
});

describe('@mentions', () => {
  it('finds handles, not e-mail addresses', () => {
    expect(mentionsIn('ping @Bob.Smith, see bob@example.com and @cid!')).toEqual(['bob.smith', 'cid']);
  });

  it('matches a member by e-mail local part or by name without spaces', () => {
    const bob = { id: 'b', email: 'bob.smith@example.com', name: 'Robert Smith' };
    expect(handleMatches(bob, 'bob.smith')).toBe(true);
    expect(handleMatches(bob, 'robertsmith')).toBe(true);
    expect(handleMatches(bob, 'bob')).toBe(false);
  });
});
