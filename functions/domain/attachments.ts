import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound } from '../shared/problem';
import { copyObject, deleteObject, headObject, presignedGet, presignedPost } from '../shared/s3';
import type { Trace } from '../shared/trace';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import type { PlanName } from './plans';
import { atLimit, noteUsage, quotaExceeded, underQuota } from './quotas';
import type { AttachmentDto, CreateAttachmentInput } from './schemas';
import { projectArchived } from './projects';

// Long enough to start an upload, short enough that a leaked form is soon useless.
const UPLOAD_EXPIRES_SECONDS = 15 * 60;
const DOWNLOAD_EXPIRES_SECONDS = 5 * 60;

// An upload waits under pending/ (emptied by a lifecycle rule after a day) until it is confirmed.
const pendingKey = (orgId: string, attachmentId: string) => `pending/${orgId}/${attachmentId}`;
const storedKey = (orgId: string, attachmentId: string) => `attachments/${orgId}/${attachmentId}`;

/**
 * An upload form for a file of a task: a presigned POST that S3 accepts only for this key, this type and
 * exactly the declared size (at most 50 MB), the size the storage quota was checked against. Nothing is
 * recorded until the upload is confirmed; the task and the file name ride with the object as its metadata.
 */
export async function startUpload(caller: Caller, attachmentId: string, taskId: string, input: CreateAttachmentInput) {
  const { rows } = await read<{ used: string; plan: PlanName; archived: boolean }>(
    `SELECT o.storage_bytes AS used, o.plan, p.archived_at IS NOT NULL AS archived FROM organizations o
     JOIN tasks t ON t.organization_id = o.id AND t.id = $2
     JOIN projects p ON p.id = t.project_id AND p.deleted_at IS NULL
     WHERE o.id = $1`,
    [caller.orgId, taskId],
  );
  if (!rows[0]) throw notFound('Task');
  // The confirm would be refused: no upload into an archived project.
  if (rows[0].archived) throw projectArchived();
  // Checked again, exactly, at confirm; this spares an upload that could never be kept.
  if (atLimit('storageBytes', rows[0].plan, Number(rows[0].used), input.size)) throw quotaExceeded('storageBytes', rows[0].plan);
  const upload = presignedPost({
    key: pendingKey(caller.orgId, attachmentId),
    contentType: input.contentType,
    minBytes: input.size,
    maxBytes: input.size,
    expiresIn: UPLOAD_EXPIRES_SECONDS,
    metadata: { 'task-id': taskId, 'file-name': encodeURIComponent(input.fileName), 'uploaded-by': encodeURIComponent(caller.userId) },
  });
  return { attachmentId, upload: { url: upload.url, fields: upload.fields }, expiresAt: upload.expiresAt, maxBytes: input.size };
}

/**
 * Records an uploaded file once: a retried confirm answers the same attachment; a confirm of an object
 * that is not there answers 404 and records nothing. The object moves out of pending/ first, then the
 * row is written (unique by id and key) together with its storage under the quota.
 */
export async function confirmUpload(caller: Caller, trace: Trace, attachmentId: string): Promise<{ doc: AttachmentDto; created: boolean }> {
  const recorded = await findAttachment(caller, attachmentId);
  if (recorded) return { doc: recorded.doc, created: false };
  const pending = pendingKey(caller.orgId, attachmentId);
  const head = await headObject(pending);
  const taskId = head?.metadata['task-id'];
  if (!head || !taskId) throw notFound('Upload');
  const stored = storedKey(caller.orgId, attachmentId);
  for (let attempt = 1; ; attempt += 1) {
    try {
      await copyObject(pending, stored);
      break;
    } catch (error) {
      // A concurrent confirm of the same upload may be copying too, or have recorded it and removed the
      // pending object: its record is the answer; else the copy (the same bytes each time) is tried again.
      const raced = await findAttachment(caller, attachmentId);
      if (raced) return { doc: raced.doc, created: false };
      if (attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
  const values = {
    attachmentId,
    taskId,
    key: stored,
    fileName: decodeURIComponent(head.metadata['file-name'] ?? attachmentId),
    contentType: head.contentType,
    size: head.size,
  };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    first: {
      // The task is locked before the organization's row, in the same order as a delete (no deadlock).
      task: `SELECT id, project_id FROM tasks WHERE organization_id = ${$.organization} AND id = ${$.taskId} FOR KEY SHARE`,
    },
    quota: { counted: 'storageBytes' },
    steps: {
      inserted: `
        INSERT INTO attachments (id, organization_id, task_id, s3_key, file_name, content_type, size, uploaded_by)
        SELECT ${$.attachmentId}, ${$.organization}, task.id, ${$.key}, ${$.fileName}, ${$.contentType}, ${$.size}, ${$.actor}
        FROM task WHERE ${underQuota('storageBytes', $.size)}
        ON CONFLICT DO NOTHING
        RETURNING id, attachment_json(attachments) AS doc`,
    },
    change: 'SELECT inserted.id, task.project_id, inserted.doc FROM inserted, task',
    event: { type: 'attachment.added' },
    counts: { storageBytes: $.size },
    select: { columns: '(SELECT doc FROM changed)' },
  }));
  const { rows } = await db.query<{ doc: AttachmentDto | null; outbox: OutboxEntry[]; used: string; plan: PlanName }>(text, params).catch(async (error) => {
    // Refused by the schema's rules (an archived or deleted project): the copy has no record and must not linger.
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('TF')) await deleteObject(stored).catch(() => undefined);
    throw error;
  });
  const { doc, outbox, used, plan } = rows[0]!;
  if (doc) {
    await publishNow(outbox);
    noteUsage(caller.orgId, 'storageBytes', plan, Number(used), head.size);
    await deleteObject(pending).catch(() => undefined); // the lifecycle rule removes it otherwise
    return { doc, created: true };
  }
  // A concurrent confirm of the same upload recorded it first.
  const raced = await findAttachment(caller, attachmentId);
  if (raced) return { doc: raced.doc, created: false };
  // Refused: the copy has no record and must not linger (the upload stays pending for a retry).
  await deleteObject(stored).catch(() => undefined);
  if (atLimit('storageBytes', plan, Number(used), head.size)) throw quotaExceeded('storageBytes', plan);
  throw notFound('Task');
}

async function findAttachment(caller: Caller, attachmentId: string) {
  const { rows } = await read<{ doc: AttachmentDto; key: string; file: string }>(
    `SELECT attachment_json(a) AS doc, a.s3_key AS key, a.file_name AS file FROM attachments a JOIN tasks t ON t.id = a.task_id
     WHERE a.organization_id = $1 AND a.id = $2 AND NOT project_deleted(t.project_id)`,
    [caller.orgId, attachmentId],
  );
  return rows[0] ?? null;
}

/** An attachment with a download link valid for 5 minutes. */
export async function getAttachment(caller: Caller, attachmentId: string) {
  const found = await findAttachment(caller, attachmentId);
  if (!found) throw notFound('Attachment');
  return { ...found.doc, downloadUrl: await presignedGet(found.key, found.file, DOWNLOAD_EXPIRES_SECONDS) };
}

export async function listAttachments(caller: Caller, taskId: string) {
  const { rows } = await read<{ doc: AttachmentDto | null; key: string | null; file: string | null }>(
    `SELECT attachment_json(a) AS doc, a.s3_key AS key, a.file_name AS file
     FROM tasks t LEFT JOIN attachments a ON a.task_id = t.id
     WHERE t.organization_id = $1 AND t.id = $2 AND NOT project_deleted(t.project_id)
     ORDER BY a.created_at, a.id`,
    [caller.orgId, taskId],
  );
  if (rows.length === 0) throw notFound('Task');
  const items = await Promise.all(
    // A task without attachments is one row of nulls (the LEFT JOIN); attachment_json of it is not null.
    rows.filter((row) => row.key !== null).map(async (row) => ({ ...row.doc!, downloadUrl: await presignedGet(row.key!, row.file!, DOWNLOAD_EXPIRES_SECONDS) })),
  );
  return { items };
}

/**
 * Deletes an attachment. The object goes first (in the versioned bucket its version stays, so a
 * mistaken delete can be undone by an operator), then the row and its storage; if the row delete is
 * lost, the sweep removes a row whose object is gone.
 */
export async function deleteAttachment(caller: Caller, trace: Trace, attachmentId: string): Promise<void> {
  const found = await findAttachment(caller, attachmentId);
  if (!found) throw notFound('Attachment');
  await deleteObject(found.key);
  await forget(caller, trace, attachmentId);
}

async function forget(caller: Pick<Caller, 'orgId' | 'userId'>, trace: Trace, attachmentId: string): Promise<void> {
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values: { attachmentId } }, ($) => ({
    change: `
      DELETE FROM attachments a WHERE a.organization_id = ${$.organization} AND a.id = ${$.attachmentId}
      RETURNING a.id, (SELECT project_id FROM tasks t WHERE t.id = a.task_id) AS project_id, attachment_json(a) AS doc, a.size`,
    event: { type: 'attachment.removed' },
    counts: { storageBytes: '-(SELECT coalesce(sum(size), 0) FROM changed)' },
    select: { from: 'changed' },
  }));
  const { rows } = await db.query<{ outbox: OutboxEntry[] }>(text, params);
  if (rows[0]) await publishNow(rows[0].outbox);
}

/**
 * The scheduled sweep: removes the rows whose object is gone (a delete whose row outlived its object,
 * an object removed by hand), in pages, so a row never promises a file that cannot be downloaded.
 */
export async function sweepAttachments(trace: Trace, pageSize = 200): Promise<{ checked: number; removed: number }> {
  let checked = 0;
  let removed = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await read<{ id: string; org: string; key: string; uploader: string }>(
      // Not in an archived or deleted project: the one is read-only, the other's files go with it (project-deletion.ts).
      `SELECT a.id, a.organization_id AS org, a.s3_key AS key, a.uploaded_by AS uploader FROM attachments a JOIN tasks t ON t.id = a.task_id
       WHERE a.id > $1 AND project_open(t.project_id) ORDER BY a.id LIMIT $2`,
      [after, pageSize],
    );
    for (const row of rows) {
      checked += 1;
      if (await headObject(row.key)) continue;
      await forget({ orgId: row.org, userId: row.uploader }, trace, row.id);
      removed += 1;
    }
    if (rows.length < pageSize) return { checked, removed };
    after = rows[rows.length - 1]!.id;
  }
}
