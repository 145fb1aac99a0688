import { db, read } from '../shared/db';
import { notFound } from '../shared/problem';
import { appendEvent, eventParams } from './events';
import { decodeCursor, page } from './pagination';
import { existingCreation, type Creation } from './client-ids';
import type { CreateProjectInput, ProjectDto } from './schemas';
import type { Caller } from './tenancy';

type ProjectChanges = { name?: string; description?: string };

export async function createProject(caller: Caller, requestId: string, input: CreateProjectInput): Promise<Creation<ProjectDto>> {
  const { rows } = await db.query<{ doc: ProjectDto }>(
    `WITH changed AS (
       INSERT INTO projects (id, organization_id, name, description, created_by)
       VALUES (coalesce($6::uuid, gen_random_uuid()), $1, $4, $5, $2)
       ON CONFLICT (id) DO NOTHING
       RETURNING id, id AS project_id, project_json(projects) AS doc
     ), ${appendEvent('project.created')}
     SELECT doc FROM changed`,
    [...eventParams(caller, requestId), input.name, input.description, input.id ?? null],
  );
  if (rows[0]) return { doc: rows[0].doc, created: true };
  // Nothing inserted means the id was taken (ON CONFLICT), so it names a row: ours, or a 409.
  const existing = await existingCreation<ProjectDto>('projects', caller, input.id);
  if (!existing) throw new Error(`project ${input.id} neither inserted nor found`);
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

export async function updateProject(caller: Caller, requestId: string, projectId: string, changes: ProjectChanges): Promise<ProjectDto> {
  const { rows } = await db.query<{ doc: ProjectDto }>(
    `WITH changed AS (
       UPDATE projects SET name = coalesce($5, name), description = coalesce($6, description), updated_at = now()
       WHERE organization_id = $1 AND id = $4
       RETURNING id, id AS project_id, project_json(projects) AS doc
     ), ${appendEvent('project.updated')}
     SELECT doc FROM changed`,
    [...eventParams(caller, requestId), projectId, changes.name ?? null, changes.description ?? null],
  );
  if (!rows[0]) throw notFound('Project');
  return rows[0].doc;
}
