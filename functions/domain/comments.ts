import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound, Problem } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import { decodeCursor, page } from './pagination';
import { existingCreation, type Creation } from './client-ids';
import type { CommentDto, CreateCommentInput } from './schemas';
import { etagOf } from './tasks';

export async function createComment(caller: Caller, trace: Trace, taskId: string, input: CreateCommentInput): Promise<Creation<CommentDto>> {
  const values = { id: input.id ?? null, taskId, body: input.body };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    first: {
      // Lock the task before the organization row (taken for the event sequence), in the same
      // order as a delete, so a comment racing a delete waits instead of deadlocking.
      task: `SELECT id, project_id FROM tasks WHERE organization_id = ${$.organization} AND id = ${$.taskId} FOR KEY SHARE`,
    },
    steps: {
      inserted: `
        INSERT INTO comments (id, organization_id, task_id, author_id, body)
        SELECT coalesce(${$.id}::uuid, gen_random_uuid()), ${$.organization}, task.id, ${$.actor}, ${$.body} FROM task
        ON CONFLICT (id) DO NOTHING
        RETURNING id, comment_json(comments) AS doc`,
    },
    change: 'SELECT inserted.id, task.project_id, inserted.doc FROM inserted, task',
    event: { type: 'comment.created' },
    select: { columns: 'doc', from: 'changed' },
  }));
  let rows: { doc: CommentDto; outbox: OutboxEntry[] }[];
  try {
    ({ rows } = await db.query<{ doc: CommentDto; outbox: OutboxEntry[] }>(text, params));
  } catch (error) {
    // The task was deleted between the read and the insert of this same statement.
    if ((error as { code?: string }).code === '23503') throw notFound('Task');
    throw error;
  }
  if (rows[0]) {
    await publishNow(rows[0].outbox);
    return { doc: rows[0].doc, created: true };
  }
  const existing = await existingCreation<CommentDto>('comments', caller, input.id, taskId);
  if (!existing) throw notFound('Task');
  return { doc: existing, created: false };
}

export async function listComments(caller: Caller, taskId: string, limit: number, cursor?: string) {
  const after = decodeCursor(cursor);
  const { rows } = await read<{ doc: CommentDto | null }>(
    `SELECT c.doc FROM tasks t
     LEFT JOIN LATERAL (
       SELECT comment_json(c) AS doc FROM comments c
       WHERE c.task_id = t.id AND NOT project_deleted(t.project_id)
         AND ($3::timestamptz IS NULL OR (c.created_at, c.id) > ($3::timestamptz, $4::uuid))
       ORDER BY c.created_at, c.id
       LIMIT $5
     ) c ON true
     WHERE t.organization_id = $1 AND t.id = $2 AND NOT project_deleted(t.project_id)`,
    [caller.orgId, taskId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
  );
  if (rows.length === 0) throw notFound('Task');
  return page(rows.flatMap((row) => (row.doc ? [row.doc] : [])), limit);
}

/**
 * The comment's task (locked first, as a task's delete locks it, so an edit racing the delete waits instead of
 * deadlocking), then the comment itself, locked: concurrent edits take turns, and `target` shows the comment as the
 * turn before left it. Not in a deleted project.
 */
const lockedComment = (organization: string, commentId: string) => ({
  task: `SELECT t.id, t.project_id FROM comments c JOIN tasks t ON t.organization_id = c.organization_id AND t.id = c.task_id
    WHERE c.organization_id = ${organization} AND c.id = ${commentId} AND NOT project_deleted(t.project_id) FOR KEY SHARE OF t`,
  target: `SELECT c.id, c.author_id, c.version, comment_json(c) AS doc FROM comments c JOIN task ON c.task_id = task.id
    WHERE c.organization_id = ${organization} AND c.id = ${commentId} FOR NO KEY UPDATE OF c`,
});

/**
 * Edits a comment (its author only), if it is still at `version`: concurrent edits of one version are applied one
 * at a time, so one wins and the others answer 409 VERSION_CONFLICT with the comment as it now is.
 */
export async function updateComment(caller: Caller, trace: Trace, commentId: string, body: string, version: number): Promise<CommentDto> {
  const values = { commentId, body, version };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    first: lockedComment($.organization, $.commentId),
    change: `
      UPDATE comments c SET body = ${$.body}, version = c.version + 1, edited_at = now()
      FROM target, task
      WHERE c.id = target.id AND target.author_id = ${$.actor} AND target.version = ${$.version}
      RETURNING c.id, task.project_id, comment_json(c) AS doc`,
    event: { type: 'comment.updated' },
    select: { columns: '(SELECT doc FROM changed), (SELECT author_id FROM target) AS author, (SELECT doc FROM target) AS current' },
  }));
  const { rows } = await db.query<{ doc: CommentDto | null; author: string | null; current: CommentDto | null; outbox: OutboxEntry[] }>(text, params);
  const { doc, author, current, outbox } = rows[0]!;
  if (doc) {
    await publishNow(outbox);
    return doc;
  }
  if (author === null || !current) throw notFound('Comment');
  if (author !== caller.userId) throw new Problem(403, 'NOT_AUTHOR', 'Only its author may edit a comment');
  throw new Problem(
    409,
    'VERSION_CONFLICT',
    'The comment was changed since the version you sent',
    `You sent version ${version}; the comment is at version ${current.version}. Edit the current text and send its version.`,
    { current },
    { ETag: etagOf(current) },
  );
}

/** Deletes a comment (its author or an organization admin). */
export async function deleteComment(caller: Caller, trace: Trace, commentId: string): Promise<void> {
  const values = { commentId, admin: caller.role === 'admin' };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    first: lockedComment($.organization, $.commentId),
    change: `
      DELETE FROM comments c USING target, task
      WHERE c.id = target.id AND (target.author_id = ${$.actor} OR ${$.admin}::boolean)
      RETURNING c.id, task.project_id, comment_json(c) AS doc`,
    event: { type: 'comment.deleted' },
    select: { columns: 'EXISTS (SELECT 1 FROM changed) AS deleted, EXISTS (SELECT 1 FROM target) AS found' },
  }));
  const { rows } = await db.query<{ deleted: boolean; found: boolean; outbox: OutboxEntry[] }>(text, params);
  const { deleted, found, outbox } = rows[0]!;
  if (!found) throw notFound('Comment');
  if (!deleted) throw new Problem(403, 'NOT_AUTHOR', 'Only its author or an organization admin may delete a comment');
  await publishNow(outbox);
}
