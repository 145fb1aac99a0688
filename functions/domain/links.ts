import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound, Problem } from '../shared/problem';
import type { Creation } from './client-ids';
import { SYNC_EVERY_MINUTES } from './sync-interval';
import type { CreateLinkInput, LinkDto } from './sync-schemas';

/**
 * When a link's next run starts. One that waits for nothing (its last run ended well or found nothing to do, so
 * `next_sync_at` is already past) starts at the next dispatch, one schedule interval after the dispatch that started
 * its last run (`run_started_at`, kept after the run ends), or right after a run that outlasted that; otherwise at
 * `next_sync_at`: a failure's backoff, a rate limit's reset, or at once for a link not synced yet.
 */
const nextSyncAt = (l: string) => `CASE
    WHEN ${l}.run_id IS NULL AND ${l}.last_sync_at IS NOT NULL AND ${l}.next_sync_at <= ${l}.last_sync_at
      THEN greatest(coalesce(${l}.run_started_at, ${l}.last_sync_at) + interval '${SYNC_EVERY_MINUTES} minutes', ${l}.last_sync_at)
    ELSE ${l}.next_sync_at END`;

/**
 * A link's API representation (schemas.ts Link), built where the row is: `lastSync` is null until a run
 * finished; `running` while a run is in flight. While one is, `lastSync.changes` counts that run's changes
 * so far (the dispatcher resets it when it starts a run; see sync-apply.ts).
 */
const linkJson = (l: string) => `json_build_object(
  'id', ${l}.id, 'projectId', ${l}.project_id, 'type', ${l}.type, 'target', ${l}.target,
  'createdBy', ${l}.created_by, 'createdAt', api_timestamp(${l}.created_at),
  'lastSync', CASE WHEN ${l}.last_sync_at IS NULL THEN NULL ELSE json_build_object(
    'at', api_timestamp(${l}.last_sync_at), 'status', ${l}.last_sync_status, 'error', ${l}.last_sync_error,
    'changes', coalesce(${l}.last_sync_changes, 0)) END,
  'running', ${l}.run_id IS NOT NULL,
  'nextSyncAt', api_timestamp(${nextSyncAt(l)}))`;

/**
 * Links a project to a repository or a calendar, due at once (the next dispatch starts its first run).
 * One statement: the project is checked in the caller's organization (else 404), and the same
 * (project, type, target) again answers the existing link (created: false); a client id taken by
 * another link is 409 ID_CONFLICT. Links have no event: nothing in the feed or notifications is about them.
 */
export async function createLink(caller: Caller, projectId: string, input: CreateLinkInput): Promise<Creation<LinkDto>> {
  const params = [caller.orgId, projectId, input.type, input.target, caller.userId, input.id ?? null, caller.role === 'admin'];
  const { rows } = await db
    .query<{ doc: LinkDto | null; existing: LinkDto | null; same: boolean | null; project: boolean }>(
      `WITH project AS (
         SELECT id FROM projects WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL
       ), inserted AS (
         INSERT INTO integration_links (id, organization_id, project_id, type, target, created_by, next_sync_at)
         SELECT coalesce($6::uuid, gen_random_uuid()), $1, p.id, $3, $4, $5, now() FROM project p WHERE $7
         ON CONFLICT DO NOTHING
         RETURNING ${linkJson('integration_links')} AS doc
       )
       SELECT (SELECT doc FROM inserted),
         (SELECT ${linkJson('l')} FROM integration_links l WHERE l.project_id = $2 AND l.type = $3 AND l.target = $4) AS existing,
         (SELECT l.organization_id = $1 AND l.project_id = $2 AND l.type = $3 AND l.target = $4 FROM integration_links l WHERE l.id = $6::uuid) AS same,
         EXISTS (SELECT 1 FROM project) AS project`,
      params,
    )
    .catch((error: { code?: string }) => {
      // The project was deleted between the check and the insert.
      if (error.code === '23503') throw notFound('Project');
      throw error;
    });
  const { doc, existing, same, project } = rows[0]!;
  if (doc) return { doc, created: true };
  if (!project) throw notFound('Project');
  if (caller.role !== 'admin') throw adminOnly();
  if (same === false) throw idConflict();
  if (existing) return { doc: existing, created: false };
  // A concurrent create of the same link committed after this statement's snapshot: read it now.
  const { rows: raced } = await read<{ doc: LinkDto; same: boolean }>(
    `SELECT ${linkJson('l')} AS doc, l.organization_id = $1 AND l.project_id = $2 AND l.type = $3 AND l.target = $4 AS same
     FROM integration_links l
     WHERE (l.project_id = $2 AND l.type = $3 AND l.target = $4) OR l.id = $5::uuid
     ORDER BY same DESC LIMIT 1`,
    [caller.orgId, projectId, input.type, input.target, input.id ?? null],
  );
  if (!raced[0]) throw notFound('Project');
  if (!raced[0].same) throw idConflict();
  return { doc: raced[0].doc, created: false };
}

const idConflict = () => new Problem(409, 'ID_CONFLICT', 'This id is already taken', 'Generate a new UUID for a new resource.');
// The GitHub token and the Google service account are the deployment's: what they can see, a link imports into
// the organization. Deciding that is an organization admin's.
const adminOnly = () => new Problem(403, 'ADMIN_ONLY', 'Only an organization admin may link or unlink a repository or a calendar');

/** The project's links, oldest first, each with its last sync (one read; 404 for a project not in the organization). */
export async function listLinks(caller: Caller, projectId: string): Promise<{ items: LinkDto[] }> {
  const { rows } = await read<{ doc: LinkDto | null }>(
    `SELECT CASE WHEN l.id IS NULL THEN NULL ELSE ${linkJson('l')} END AS doc
     FROM projects p LEFT JOIN integration_links l ON l.project_id = p.id AND l.organization_id = p.organization_id
     WHERE p.organization_id = $1 AND p.id = $2 AND p.deleted_at IS NULL
     ORDER BY l.created_at, l.id`,
    [caller.orgId, projectId],
  );
  if (rows.length === 0) throw notFound('Project');
  return { items: rows.flatMap((row) => (row.doc ? [row.doc] : [])) };
}

/**
 * Unlinks: syncing stops (a run in flight has its results dropped), the link's calendar_events rows go
 * with it (ON DELETE CASCADE); imported tasks and the events written in Google Calendar stay.
 */
export async function deleteLink(caller: Caller, linkId: string): Promise<void> {
  const { rows } = await db.query<{ deleted: boolean }>(
    `WITH deleted AS (DELETE FROM integration_links WHERE organization_id = $1 AND id = $2 AND $3 RETURNING id)
     SELECT EXISTS (SELECT 1 FROM deleted) AS deleted FROM integration_links WHERE organization_id = $1 AND id = $2`,
    [caller.orgId, linkId, caller.role === 'admin'],
  );
  if (!rows[0]) throw notFound('Link');
  if (!rows[0].deleted) throw adminOnly();
}
