import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import type { PlanName } from './plans';
import { atLimit, noteUsage, quotaExceeded, underQuota } from './quotas';
import { decodeCursor, page } from './pagination';
import { existingCreation, type Creation } from './client-ids';
import type { CreateProjectInput, ProjectDto } from './schemas';

type ProjectChanges = { name?: string; description?: string };

export async function createProject(caller: Caller, trace: Trace, input: CreateProjectInput): Promise<Creation<ProjectDto>> {
  const values = { id: input.id ?? null, name: input.name, description: input.description };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    quota: { counted: 'projects' },
    change: `
      INSERT INTO projects (id, organization_id, name, description, created_by)
      SELECT coalesce(${$.id}::uuid, gen_random_uuid()), ${$.organization}, ${$.name}, ${$.description}, ${$.actor}
      WHERE ${underQuota('projects')}
      ON CONFLICT (id) DO NOTHING
      RETURNING id, id AS project_id, project_json(projects) AS doc`,
    event: { type: 'project.created' },
    counts: { projects: 1 },
    select: { columns: '(SELECT doc FROM changed)' },
  }));
  const { rows } = await db.query<{ doc: ProjectDto | null; outbox: OutboxEntry[]; used: number; plan: PlanName }>(text, params);
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
  const values = { projectId, name: changes.name ?? null, description: changes.description ?? null };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    change: `
      UPDATE projects SET name = coalesce(${$.name}, name), description = coalesce(${$.description}, description), updated_at = now()
      WHERE organization_id = ${$.organization} AND id = ${$.projectId}
      RETURNING id, id AS project_id, project_json(projects) AS doc`,
    event: { type: 'project.updated' },
    select: { columns: 'doc', from: 'changed' },
  }));
  const { rows } = await db.query<{ doc: ProjectDto; outbox: OutboxEntry[] }>(text, params);
  if (!rows[0]) throw notFound('Project');
  await publishNow(rows[0].outbox);
  return rows[0].doc;
}
