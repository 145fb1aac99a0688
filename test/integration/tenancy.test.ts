import { beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { createProject, createTask, invoke, newCaller, type Call, type OperationId } from '../support/api';
import { sql } from '../support/sql';

// Eve (another organization) aims at Alice's ids on every route.
const alice = { ...newCaller('admin'), name: 'Alice secret name' }; // an admin: she links a repository
const eve = newCaller('admin'); // an admin of her own organization: not of Alice's
let ids: { projectId: string; taskId: string; commentId: string; linkId: string };

beforeAll(async () => {
  const project = await createProject(alice, 'Alice secret project');
  const task = await createTask(alice, project.id, { title: 'Alice secret task' });
  const comment = await invoke('createComment', alice, { params: { taskId: task.id }, body: { body: 'Alice secret comment' } });
  const link = await invoke('createLink', alice, { params: { projectId: project.id }, body: { type: 'github', target: 'alice/secret-repo' } });
  expect(link.status).toBe(201);
  await createProject(eve, 'Eve project');
  ids = { projectId: project.id, taskId: task.id, commentId: comment.body.id, linkId: link.body.id };
});

// How each route must treat another organization's data: a 404 for its ids, or none of it in a list.
const attempts: Record<Exclude<OperationId, 'getHealth'>, () => Call & { expect: 'not-found' | 'not-listed' }> = {
  createProject: () => ({ body: { name: 'mine' }, expect: 'not-listed' }),
  listProjects: () => ({ expect: 'not-listed' }),
  getProject: () => ({ params: { projectId: ids.projectId }, expect: 'not-found' }),
  updateProject: () => ({ params: { projectId: ids.projectId }, body: { name: 'pwned', archived: true }, expect: 'not-found' }),
  deleteProject: () => ({ params: { projectId: ids.projectId }, expect: 'not-found' }),
  createTask: () => ({ params: { projectId: ids.projectId }, body: { title: 'pwned' }, expect: 'not-found' }),
  listTasks: () => ({ params: { projectId: ids.projectId }, expect: 'not-found' }),
  getTask: () => ({ params: { taskId: ids.taskId }, expect: 'not-found' }),
  updateTask: () => ({ params: { taskId: ids.taskId }, body: { version: 1, title: 'pwned' }, expect: 'not-found' }),
  deleteTask: () => ({ params: { taskId: ids.taskId }, expect: 'not-found' }),
  createComment: () => ({ params: { taskId: ids.taskId }, body: { body: 'pwned' }, expect: 'not-found' }),
  listComments: () => ({ params: { taskId: ids.taskId }, expect: 'not-found' }),
  updateComment: () => ({ params: { commentId: ids.commentId }, body: { version: 1, body: 'pwned' }, expect: 'not-found' }),
  deleteComment: () => ({ params: { commentId: ids.commentId }, expect: 'not-found' }),
  search: () => ({ query: { q: 'secret' }, expect: 'not-listed' }),
  // The integrations are TaskFlow's, not an organization's: nothing of Alice's is in it.
  getIntegrationsHealth: () => ({ expect: 'not-listed' }),
  // The activity is per organization: Eve's own events only, even filtered on Alice's project.
  listActivity: () => ({ query: { afterSeq: '0', projectId: ids.projectId }, expect: 'not-listed' }),
  getUsage: () => ({ expect: 'not-listed' }), // counts are per organization: test/integration/quotas.test.ts
  // Counted in the caller's organization's partition of the registry: test/integration/feed.test.ts.
  getFeedConnections: () => ({ expect: 'not-listed' }),
  startAttachmentUpload: () => ({ params: { taskId: ids.taskId }, body: { fileName: 'a.txt', contentType: 'text/plain', size: 1 }, expect: 'not-found' }),
  // Another organization's uploads and attachments are under its own prefix and rows: test/integration/attachments.test.ts.
  confirmAttachment: () => ({ params: { attachmentId: crypto.randomUUID() }, expect: 'not-found' }),
  listAttachments: () => ({ params: { taskId: ids.taskId }, expect: 'not-found' }),
  getAttachment: () => ({ params: { attachmentId: crypto.randomUUID() }, expect: 'not-found' }),
  deleteAttachment: () => ({ params: { attachmentId: crypto.randomUUID() }, expect: 'not-found' }),
  createLink: () => ({ params: { projectId: ids.projectId }, body: { type: 'github', target: 'eve/pwned' }, expect: 'not-found' }),
  listLinks: () => ({ params: { projectId: ids.projectId }, expect: 'not-found' }),
  deleteLink: () => ({ params: { linkId: ids.linkId }, expect: 'not-found' }),
  listReports: () => ({ params: { projectId: ids.projectId }, expect: 'not-found' }),
  // Members, watchers and preferences (issue 17): Eve's own, never Alice's.
  getMe: () => ({ expect: 'not-listed' }),
  getPreferences: () => ({ expect: 'not-listed' }),
  updatePreferences: () => ({ body: { mutedProjectIds: [ids.projectId] }, expect: 'not-found' }),
  listMembers: () => ({ query: { q: 'alice', includeRemoved: 'true' }, expect: 'not-listed' }),
  removeMember: () => ({ params: { userId: alice.userId }, expect: 'not-found' }),
  listWatchers: () => ({ params: { taskId: ids.taskId }, expect: 'not-found' }),
  watchTask: () => ({ params: { taskId: ids.taskId }, expect: 'not-found' }),
  unwatchTask: () => ({ params: { taskId: ids.taskId }, expect: 'not-found' }),
};

describe('tenant isolation', () => {
  it('covers every authenticated route of the declaration', () => {
    const declared = taskflow.routes.filter((r) => r.auth === 'jwt').map((r) => r.operationId).sort();
    expect(Object.keys(attempts).sort()).toEqual(declared);
  });

  it.each(Object.keys(attempts) as (keyof typeof attempts)[])('%s never reaches another organization', async (operationId) => {
    const { expect: expected, ...call } = attempts[operationId]();
    const response = await invoke(operationId, eve, call);
    if (expected === 'not-found') {
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('NOT_FOUND');
    } else {
      expect(response.status).toBeLessThan(300);
      expect(JSON.stringify(response.body)).not.toMatch(/Alice secret/);
    }
    // Whatever Eve did, Alice's data is as she left it (read in the database: Alice's own rate limit would not
    // allow five reads per route).
    const [state] = await sql<Record<string, unknown>>(
      `SELECT (SELECT name FROM projects WHERE id = $1 AND archived_at IS NULL AND deleted_at IS NULL) AS project,
              (SELECT json_agg(json_build_object('title', title, 'version', version)) FROM tasks WHERE project_id = $1) AS tasks,
              (SELECT json_agg(body) FROM comments WHERE task_id = $2) AS comments,
              (SELECT json_agg(target) FROM integration_links WHERE project_id = $1) AS links,
              (SELECT removed_at IS NULL FROM memberships WHERE user_id = $3) AS member,
              (SELECT count(*)::int FROM task_watchers WHERE task_id = $2) AS watchers`,
      [ids.projectId, ids.taskId, alice.userId],
    );
    expect(state).toEqual({
      project: 'Alice secret project',
      tasks: [{ title: 'Alice secret task', version: 1 }],
      comments: ['Alice secret comment'],
      links: ['alice/secret-repo'],
      member: true,
      watchers: 0,
    });
  });

  it('refuses a request without a caller identity (401), should the authorizer ever be bypassed', async () => {
    const response = await invoke('listProjects', null);
    expect(response.status).toBe(401);
  });
});
