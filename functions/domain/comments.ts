import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import { decodeCursor, page } from './pagination';
import { existingCreation, type Creation } from './client-ids';
import type { CommentDto, CreateCommentInput } from './schemas';

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
       WHERE c.task_id = t.id
         AND ($3::timestamptz IS NULL OR (c.created_at, c.id) > ($3::timestamptz, $4::uuid))
       ORDER BY c.created_at, c.id
       LIMIT $5
     ) c ON true
     WHERE t.organization_id = $1 AND t.id = $2`,
    [caller.orgId, taskId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
  );
  if (rows.length === 0) throw notFound('Task');
  return page(rows.flatMap((row) => (row.doc ? [row.doc] : [])), limit);
}
