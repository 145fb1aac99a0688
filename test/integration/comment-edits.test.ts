import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, memberOf, newCaller, type Caller } from '../support/api';
import { sql } from '../support/sql';

// Issue 17: a comment is edited by its author (`version` or If-Match; a stale edit answers 409 with the comment
// as it is), deleted by its author or an admin; comment.updated and comment.deleted reach the feed, and search
// finds what the comment says now.
async function commented(author: Caller, body = 'The first text') {
  const project = await createProject(author);
  const task = await createTask(author, project.id);
  const comment = await invoke('createComment', author, { params: { taskId: task.id }, body: { body } });
  expect(comment.status).toBe(201);
  return { project, task, comment: comment.body };
}

const edit = (caller: Caller, commentId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  invoke('updateComment', caller, { params: { commentId }, body, headers });

describe('editing and deleting comments', () => {
  it('edits a comment: a new version, editedAt, its ETag; If-Match works as `version` does', async () => {
    const alice = newCaller();
    const { comment } = await commented(alice);
    expect(comment).toMatchObject({ version: 1, editedAt: null });
    const edited = await edit(alice, comment.id, { version: 1, body: '  The second text  ' });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ id: comment.id, body: 'The second text', version: 2, createdAt: comment.createdAt });
    expect(Date.parse(edited.body.editedAt)).toBeGreaterThanOrEqual(Date.parse(comment.createdAt));
    expect(edited.headers.etag).toBe('"2"');
    const again = await edit(alice, comment.id, { body: 'The third text' }, { 'If-Match': edited.headers.etag! });
    expect(again.body).toMatchObject({ body: 'The third text', version: 3 });
    const listed = await invoke('listComments', alice, { params: { taskId: comment.taskId } });
    expect(listed.body.items).toEqual([again.body]);
  });

  it('concurrent edits of one version: exactly one wins, every other answers 409 with the comment as it is, and can edit it then', async () => {
    const alice = newCaller();
    const { comment } = await commented(alice);
    const texts = Array.from({ length: 8 }, (_, i) => `Edit number ${i}`);
    const results = await Promise.all(texts.map((body) => edit(alice, comment.id, { version: 1, body })));
    const won = results.filter((r) => r.status === 200);
    const lost = results.filter((r) => r.status === 409);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(texts.length - 1);
    for (const response of lost) {
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.headers.etag).toBe('"2"');
      expect(response.body).toMatchObject({ status: 409, code: 'VERSION_CONFLICT', current: won[0]!.body });
    }
    // The loser's next try, on the version the 409 showed, lands.
    const retried = await edit(alice, comment.id, { version: lost[0]!.body.current.version, body: 'After the conflict' });
    expect(retried.body).toMatchObject({ version: 3, body: 'After the conflict' });
    const events = await sql('SELECT type FROM event_log WHERE subject_id = $1 ORDER BY seq', [comment.id]);
    expect(events.map((e) => e.type)).toEqual(['comment.created', 'comment.updated', 'comment.updated']);
  });

  it('lets only the author edit (403 NOT_AUTHOR), the author or an admin delete; 404 for what is not there', async () => {
    const alice = newCaller();
    const bob = memberOf(alice);
    const admin: Caller = { ...memberOf(alice), role: 'admin' };
    const { comment } = await commented(alice);
    expect((await edit(bob, comment.id, { version: 1, body: 'Bob was here' })).body).toMatchObject({ status: 403, code: 'NOT_AUTHOR' });
    expect((await edit(admin, comment.id, { version: 1, body: 'Admin was here' })).status).toBe(403);
    const refused = await invoke('deleteComment', bob, { params: { commentId: comment.id } });
    expect(refused.body).toMatchObject({ status: 403, code: 'NOT_AUTHOR' });
    expect((await invoke('deleteComment', admin, { params: { commentId: comment.id } })).status).toBe(204);
    expect((await invoke('deleteComment', alice, { params: { commentId: comment.id } })).status).toBe(404);
    expect((await edit(alice, comment.id, { version: 1, body: 'Gone' })).status).toBe(404);
    const own = await commented(alice);
    expect((await invoke('deleteComment', alice, { params: { commentId: own.comment.id } })).status).toBe(204);
    for (const commentId of ['5b7e0f5e-3c1b-4b8e-9d4e-0e6a9b1c2d3f', 'not-a-uuid']) {
      expect((await invoke('deleteComment', alice, { params: { commentId } })).status).toBe(404);
      expect((await edit(alice, commentId, { version: 1, body: 'x' })).status).toBe(404);
    }
  });

  it('answers bad input with 4xx problems and changes nothing', async () => {
    const alice = newCaller();
    const { comment } = await commented(alice);
    const cases: [Record<string, unknown>, Record<string, string>, number][] = [
      [{ version: 1, body: '' }, {}, 400],
      [{ version: 1, body: '   ' }, {}, 400],
      [{ version: 1, body: 'x'.repeat(10_001) }, {}, 400],
      [{ version: 0, body: 'x' }, {}, 400],
      [{ version: 1, body: 'x', authorId: 'eve' }, {}, 400],
      [{ version: 1 }, {}, 400],
      [{ body: 'x' }, {}, 428],
      [{ body: 'x' }, { 'If-Match': '*' }, 428],
      [{ body: 'x' }, { 'If-Match': 'nonsense' }, 400],
      [{ version: 2, body: 'x' }, { 'If-Match': '"1"' }, 400],
    ];
    for (const [body, headers, status] of cases) {
      const response = await edit(alice, comment.id, body, headers);
      expect({ body, status: response.status }).toEqual({ body, status });
      expect(response.headers['content-type']).toBe('application/problem+json');
    }
    const [row] = await sql('SELECT body, version::int FROM comments WHERE id = $1', [comment.id]);
    expect(row).toEqual({ body: 'The first text', version: 1 });
  });

  it('replays an edit and a delete sent again with the same Idempotency-Key', async () => {
    const alice = newCaller();
    const { comment } = await commented(alice);
    const first = await edit(alice, comment.id, { version: 1, body: 'Once' }, { 'Idempotency-Key': 'edit-1' });
    const replayed = await edit(alice, comment.id, { version: 1, body: 'Once' }, { 'Idempotency-Key': 'edit-1' });
    expect(replayed.status).toBe(200);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.body).toEqual(first.body);
    const deleted = await invoke('deleteComment', alice, { params: { commentId: comment.id }, headers: { 'Idempotency-Key': 'delete-1' } });
    const again = await invoke('deleteComment', alice, { params: { commentId: comment.id }, headers: { 'Idempotency-Key': 'delete-1' } });
    expect([deleted.status, again.status]).toEqual([204, 204]);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await sql('SELECT type FROM event_log WHERE subject_id = $1 ORDER BY seq', [comment.id])).toEqual([
      { type: 'comment.created' }, { type: 'comment.updated' }, { type: 'comment.deleted' },
    ]);
  });

  it('puts comment.updated and comment.deleted on the feed (GET /activity and the broadcast queue), with the comment', async () => {
    const alice = newCaller();
    const { project, comment } = await commented(alice);
    const edited = await edit(alice, comment.id, { version: 1, body: 'Edited' });
    expect((await invoke('deleteComment', alice, { params: { commentId: comment.id } })).status).toBe(204);
    const activity = await invoke('listActivity', alice, { query: { afterSeq: '0', projectId: project.id } });
    const events = activity.body.events.filter((e: { subjectId: string }) => e.subjectId === comment.id);
    expect(events.map((e: { type: string; payload: unknown }) => [e.type, e.payload])).toEqual([
      ['comment.created', comment],
      ['comment.updated', edited.body],
      ['comment.deleted', edited.body],
    ]);
    const outbox = await sql<{ type: string }>(
      'SELECT body->>\'type\' AS type FROM outbox WHERE destination = \'broadcast\' AND body->>\'subjectId\' = $1 ORDER BY body->>\'seq\'',
      [comment.id],
    );
    expect(outbox.map((row) => row.type)).toEqual(['comment.created', 'comment.updated', 'comment.deleted']);
  });

  it('search finds a comment by what it says now, and no longer once deleted', async () => {
    const alice = newCaller();
    const { comment } = await commented(alice, 'Remember the zeppelin');
    const found = async (q: string) =>
      (await invoke('search', alice, { query: { q } })).body.items.filter((hit: { type: string }) => hit.type === 'comment').map((hit: { comment: { body: string } }) => hit.comment.body);
    expect(await found('zeppelin')).toEqual(['Remember the zeppelin']);
    await edit(alice, comment.id, { version: 1, body: 'Remember the submarine' });
    expect(await found('zeppelin')).toEqual([]);
    expect(await found('submarine')).toEqual(['Remember the submarine']);
    await invoke('deleteComment', alice, { params: { commentId: comment.id } });
    expect(await found('submarine')).toEqual([]);
  });
});
