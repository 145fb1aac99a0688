import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound, Problem } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import type { PlanName } from './plans';
import { atLimit, noteUsage, quotaExceeded, underQuota } from './quotas';
import { decodeCursor, page } from './pagination';
import { existingCreation, type Creation } from './client-ids';
import type { CreateProjectInput, ProjectDto } from './schemas';

type ProjectChanges = { name?: string; description?: string; archived?: boolean };

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

/** The organization's projects: the active ones, or (`archived`) the archived ones; never the deleted ones. */
export async function listProjects(caller: Caller, limit: number, cursor?: string, archived = false) {
  const after = decodeCursor(cursor);
  const { rows } = await read<{ doc: ProjectDto }>(
    `SELECT project_json(p) AS doc FROM projects p
     WHERE p.organization_id = $1 AND p.deleted_at IS NULL AND (p.archived_at IS NOT NULL) = $5
       AND ($2::timestamptz IS NULL OR (p.created_at, p.id) > ($2::timestamptz, $3::uuid))
     ORDER BY p.created_at, p.id
     LIMIT $4`,
    [caller.orgId, after?.createdAt ?? null, after?.id ?? null, limit + 1, archived],
  );
  return page(rows.map((row) => row.doc), limit);
}

export async function getProject(caller: Caller, projectId: string): Promise<ProjectDto> {
  const { rows } = await read<{ doc: ProjectDto }>(
    'SELECT project_json(p) AS doc FROM projects p WHERE p.organization_id = $1 AND p.id = $2 AND p.deleted_at IS NULL',
    [caller.orgId, projectId],
  );
  if (!rows[0]) throw notFound('Project');
  return rows[0].doc;
}

/**
 * Renames, describes, archives (`archived: true`, read-only from then on) or unarchives a project. An archived
 * project is renamed or described only in the request that unarchives it.
 */
export async function updateProject(caller: Caller, trace: Trace, projectId: string, changes: ProjectChanges): Promise<ProjectDto> {
  const values = { projectId, name: changes.name ?? null, description: changes.description ?? null, archived: changes.archived ?? null };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    change: `
      UPDATE projects SET name = coalesce(${$.name}::text, name), description = coalesce(${$.description}::text, description),
        updated_at = now(),
        archived_at = CASE WHEN ${$.archived}::boolean IS NULL THEN archived_at WHEN ${$.archived}::boolean THEN coalesce(archived_at, now()) END
      WHERE organization_id = ${$.organization} AND id = ${$.projectId} AND deleted_at IS NULL
        AND (archived_at IS NULL OR ${$.archived}::boolean IS NOT NULL OR (${$.name}::text IS NULL AND ${$.description}::text IS NULL))
        AND NOT (archived_at IS NOT NULL AND ${$.archived}::boolean AND (${$.name}::text IS NOT NULL OR ${$.description}::text IS NOT NULL))
      RETURNING id, id AS project_id, project_json(projects) AS doc`,
    event: { type: 'project.updated' },
    // The project as it was before this statement: whether it was there, and archived.
    select: {
      columns: `(SELECT doc FROM changed),
        (SELECT archived_at IS NOT NULL FROM projects WHERE organization_id = ${$.organization} AND id = ${$.projectId} AND deleted_at IS NULL) AS archived`,
    },
  }));
  const { rows } = await db.query<{ doc: ProjectDto | null; archived: boolean | null; outbox: OutboxEntry[] }>(text, params);
  const { doc, archived, outbox } = rows[0]!;
  if (!doc) {
    if (archived === null) throw notFound('Project');
    throw projectArchived();
  }
  await publishNow(outbox);
  return doc;
}

export const projectArchived = () =>
  new Problem(409, 'PROJECT_ARCHIVED', 'The project is archived and read-only', 'Unarchive it (PATCH {"archived": false}; a rename may go in the same request) to change it.');

/**
 * Deletes a project (an organization admin): it is hidden at once (404 everywhere, out of every list, its quota's
 * project count freed) and `project.deleted` is on the feed; the deletions worker then removes its tasks,
 * comments, attachments and their files, links and reports in batches, freeing their counts (project-deletion.ts).
 */
export async function deleteProject(caller: Caller, trace: Trace, projectId: string): Promise<void> {
  if (caller.role !== 'admin') throw new Problem(403, 'ADMIN_ONLY', 'Only an organization admin may delete a project');
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values: { projectId } }, ($) => ({
    change: `
      UPDATE projects SET deleted_at = now(), updated_at = now()
      WHERE organization_id = ${$.organization} AND id = ${$.projectId} AND deleted_at IS NULL
      RETURNING id, id AS project_id, project_json(projects) AS doc`,
    event: { type: 'project.deleted' },
    counts: { projects: -1 },
    // Nobody's preferences keep muting a project that is gone (re-sending them would answer 404).
    after: {
      unmuted: `UPDATE memberships m SET muted_project_ids = array_remove(m.muted_project_ids, c.id)
FROM changed c WHERE m.organization_id = ${$.organization} AND c.id = ANY(m.muted_project_ids)`,
    },
    select: { from: 'changed' },
  }));
  const { rows } = await db.query<{ outbox: OutboxEntry[] }>(text, params);
  if (!rows[0]) throw notFound('Project');
  await publishNow(rows[0].outbox);
}
