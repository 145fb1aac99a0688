import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { appendEvent, eventParams } from './events';
import { OUTBOX_ENTRIES, publishNow, type OutboxEntry } from './outbox';
import type { PlanName } from './plans';
import { atLimit, lockQuota, noteUsage, QUOTA_STATE, quotaExceeded, underQuota } from './quotas';
import { decodeCursor, page } from './pagination';
import { existingCreation, type Creation } from './client-ids';
import type { CreateProjectInput, ProjectDto } from './schemas';

type ProjectChanges = { name?: string; description?: string };

export async function createProject(caller: Caller, trace: Trace, input: CreateProjectInput): Promise<Creation<ProjectDto>> {
  const { rows } = await db.query<{ doc: ProjectDto | null; outbox: OutboxEntry[]; used: number; plan: PlanName }>(
    `WITH ${lockQuota('projects')}, changed AS (
       INSERT INTO projects (id, organization_id, name, description, created_by)
       SELECT coalesce($7::uuid, gen_random_uuid()), $1, $5, $6, $2 WHERE ${underQuota('projects')}
       ON CONFLICT (id) DO NOTHING
       RETURNING id, id AS project_id, project_json(projects) AS doc
     ), ${appendEvent('project.created', { counts: [{ quota: 'projects', by: 1 }] })}
     SELECT (SELECT doc FROM changed), ${OUTBOX_ENTRIES}, ${QUOTA_STATE}`,
    [...eventParams(caller, trace), input.name, input.description, input.id ?? null],
  );
  const { doc, outbox, used, plan } = rows[0]!;
  if (doc) {
    await publishNow(outbox);
    noteUsage(caller.orgId, 'projects', plan, Number(used));
    return { doc, created: true };
  }
  // Nothing inserted: the id was taken (ON CONFLICT; ours, or a 409), or the plan's limit is reached.
  const existing = await existingCreation<ProjectDto>('projects', caller, input.id);
  if (!existing) {
    if (atLimit('projects', plan, Number(used))) throw quotaExceeded('projects', plan);
    throw new Error(`project ${input.id} neither inserted nor found`);
  }
  return { doc: existing, created: false };
}

export async function listProjects(caller: Caller, limit: number, cursor?: string) {
  const after = decodeCursor(cursor);
  const { rows } = await read<{ doc: ProjectDto }>(
    `SELECT project_json(p) AS doc FROM projects p
     WHERE p.organization_id = $1
       AND ($2::timestamptz IS NULL OR (p.created_at, p.id) > ($2::timestamptz, $3::uuid))
     ORDER BY p.created_at, p.id
     LIMIT $4`,
    [caller.orgId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
  );
  return page(rows.map((row) => row.doc), limit);
}

export async function getProject(caller: Caller, projectId: string): Promise<ProjectDto> {
  const { rows } = await read<{ doc: ProjectDto }>(
    'SELECT project_json(p) AS doc FROM projects p WHERE p.organization_id = $1 AND p.id = $2',
    [caller.orgId, projectId],
  );
  if (!rows[0]) throw notFound('Project');
  return rows[0].doc;
}

export async function updateProject(caller: Caller, trace: Trace, projectId: string, changes: ProjectChanges): Promise<ProjectDto> {
  const { rows } = await db.query<{ doc: ProjectDto; outbox: OutboxEntry[] }>(
    `WITH changed AS (
       UPDATE projects SET name = coalesce($6, name), description = coalesce($7, description), updated_at = now()
       WHERE organization_id = $1 AND id = $5
       RETURNING id, id AS project_id, project_json(projects) AS doc
     ), ${appendEvent('project.updated')}
     SELECT doc, ${OUTBOX_ENTRIES} FROM changed`,
    [...eventParams(caller, trace), projectId, changes.name ?? null, changes.description ?? null],
  );
  if (!rows[0]) throw notFound('Project');
  await publishNow(rows[0].outbox);
  return rows[0].doc;
}
