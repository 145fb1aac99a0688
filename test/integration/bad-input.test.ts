import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../functions/shared/http';
import { createProject, createTask, invoke, newCaller, type Response } from '../support/api';

const alice = newCaller();

async function expectProblem(promise: Promise<Response>, status: number, code: string) {
  const response = await promise;
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json');
  expect(response.body).toMatchObject({ status, code, type: expect.stringMatching(/^urn:taskflow:problem:/), title: expect.any(String) });
  expect(response.body.requestId).toBe(response.headers['x-request-id']);
  return response.body;
}

describe('bad input is a 4xx problem, never a 500', () => {
  it('malformed JSON', async () => {
    await expectProblem(invoke('createProject', alice, { body: '{"name": "x",' }), 400, 'MALFORMED_JSON');
    await expectProblem(invoke('createProject', alice, { body: '' , headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON');
  });

  it('wrong types, bad enums and out-of-range values, each named by path', async () => {
    const project = await createProject(alice);
    const problem = await expectProblem(
      invoke('createTask', alice, {
        params: { projectId: project.id },
        body: { title: 42, status: 'finished', priority: 'asap', dueDate: '31/12/2026', labels: 'x' },
      }),
      400,
      'VALIDATION_FAILED',
    );
    expect(problem.errors.map((e: { path: string }) => e.path).sort()).toEqual(
      ['body.dueDate', 'body.labels', 'body.priority', 'body.status', 'body.title'],
    );
    await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: '   ' } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x'.repeat(501) } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', labels: ['a', 'a'] } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: [] }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: 'null' }), 400, 'VALIDATION_FAILED');
    const task = await createTask(alice, project.id);
    await expectProblem(invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: '1', title: 'x' } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1 } }), 400, 'VALIDATION_FAILED');
  });

  it('issue 17\'s routes: archiving, editing a comment', async () => {
    const project = await createProject(alice);
    const archive = await expectProblem(invoke('updateProject', alice, { params: { projectId: project.id }, body: { archived: 'true' } }), 400, 'VALIDATION_FAILED');
    expect(archive.errors.map((e: { path: string }) => e.path)).toEqual(['body.archived']);
    await expectProblem(invoke('listProjects', alice, { query: { archived: 'yes' } }), 400, 'VALIDATION_FAILED');
    const task = await createTask(alice, project.id);
    const comment = await invoke('createComment', alice, { params: { taskId: task.id }, body: { body: 'hi' } });
    const edit = await expectProblem(
      invoke('updateComment', alice, { params: { commentId: comment.body.id }, body: { version: 'one', body: 42 } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(edit.errors.map((e: { path: string }) => e.path).sort()).toEqual(['body.body', 'body.version']);
    await expectProblem(invoke('updateComment', alice, { params: { commentId: comment.body.id }, body: '{"body":' }), 400, 'MALFORMED_JSON');
    await expectProblem(invoke('updateComment', alice, { params: { commentId: comment.body.id }, body: { body: 'x', taskId: task.id, version: 1 } }), 400, 'VALIDATION_FAILED');
  });

  it('unknown fields, including ones the server owns', async () => {
    const project = await createProject(alice);
    for (const extra of [{ colour: 'red' }, { version: 7 }, { createdBy: 'mallory' }, { organizationId: 'other' }]) {
      const problem = await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', ...extra } }), 400, 'VALIDATION_FAILED');
      expect(problem.errors[0].message).toMatch(/unrecognized key/i);
    }
    await expectProblem(invoke('listTasks', alice, { params: { projectId: project.id }, query: { sort: 'title' } }), 400, 'VALIDATION_FAILED');
  });

  it('oversize bodies', async () => {
    const problem = await expectProblem(
      invoke('createProject', alice, { body: { name: 'x', description: 'y'.repeat(MAX_BODY_BYTES) } }),
      400,
      'PAYLOAD_TOO_LARGE',
    );
    expect(problem.detail).toContain(String(MAX_BODY_BYTES));
    await expectProblem(invoke('createProject', alice, { body: { name: 'x', description: 'y'.repeat(5_001) } }), 400, 'VALIDATION_FAILED');
  });

  it('values PostgreSQL cannot store: NUL characters and year 0000', async () => {
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const nul = 'a\u0000b';
    await expectProblem(invoke('createProject', alice, { body: { name: nul } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', labels: [nul] } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', dueDate: '0000-01-01' } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, description: nul } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('createComment', alice, { params: { taskId: task.id }, body: { body: nul } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('listTasks', alice, { params: { projectId: project.id }, query: { assignee: nul } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('listTasks', alice, { params: { projectId: project.id }, query: { dueBefore: '0000-12-31' } }), 400, 'VALIDATION_FAILED');
    await expectProblem(invoke('search', alice, { query: { q: nul } }), 400, 'VALIDATION_FAILED');
  });

  it('strings that are not well-formed Unicode (a lone surrogate), in any field, named like any invalid field', async () => {
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const lone = 'a\ud800b';
    const refused = async (promise: Promise<Response>, path: string) => {
      const problem = await expectProblem(promise, 400, 'VALIDATION_FAILED');
      expect(problem.errors).toEqual([{ path, message: expect.stringMatching(/well-formed Unicode/) }]);
    };
    // Was a 500: the file name went through encodeURIComponent.
    await refused(invoke('startAttachmentUpload', alice, { params: { taskId: task.id }, body: { fileName: '\ud800', contentType: 'text/plain', size: 10 } }), 'body.fileName');
    // Were stored as U+FFFD.
    await refused(invoke('createProject', alice, { body: { name: lone } }), 'body.name');
    await refused(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', description: lone } }), 'body.description');
    await refused(invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', labels: ['ok', lone] } }), 'body.labels.1');
    await refused(invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, title: '\udfff' } }), 'body.title');
    await refused(invoke('createComment', alice, { params: { taskId: task.id }, body: { body: lone } }), 'body.body');
    await refused(invoke('createLink', alice, { params: { projectId: project.id }, body: { type: 'github', target: `acme/${lone}` } }), 'body.target');
    // A key too (refused before the schema would call it unknown).
    await refused(invoke('createProject', alice, { body: { name: 'x', [lone]: 1 } }), `body.${lone.toWellFormed()}`);
    // A well-formed pair (an emoji) is text like any other.
    expect((await invoke('createProject', alice, { body: { name: 'Launch \ud83d\ude80' } })).body.name).toBe('Launch 🚀');
    expect((await invoke('getTask', alice, { params: { taskId: task.id } })).body).toMatchObject({ title: 'Task', description: '' });
  });

  it('cursors that were not issued by the API, however plausible', async () => {
    const project = await createProject(alice);
    const uuid = '0b5c3a1e-8d6f-4a2b-9c3d-1e2f3a4b5c6d';
    const forged = [['1', uuid], ['+099999-01-01T00:00:00Z', uuid], ['2026-11-24T10:00:00.000000Z', '-'.repeat(36)], ['2026-13-45T10:00:00.000000Z', uuid]];
    for (const position of forged) {
      const cursor = Buffer.from(JSON.stringify(position)).toString('base64url');
      await expectProblem(invoke('listTasks', alice, { params: { projectId: project.id }, query: { cursor } }), 400, expect.stringMatching(/INVALID_CURSOR|INVALID_INPUT/) as unknown as string);
    }
  });

  it('cursors holding an impossible date, and an If-Match past any version, with their documented codes', async () => {
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const uuid = '0b5c3a1e-8d6f-4a2b-9c3d-1e2f3a4b5c6d';
    for (const at of ['2024-02-30T25:61:00.000000Z', '0000-01-01T00:00:00.000000Z']) {
      const cursor = Buffer.from(JSON.stringify([at, uuid])).toString('base64url');
      await expectProblem(invoke('listTasks', alice, { params: { projectId: project.id }, query: { cursor } }), 400, 'INVALID_CURSOR');
      await expectProblem(invoke('listProjects', alice, { query: { cursor } }), 400, 'INVALID_CURSOR');
    }
    await expectProblem(
      invoke('updateTask', alice, { params: { taskId: task.id }, headers: { 'If-Match': '"99999999999999999999999"' }, body: { title: 'x' } }),
      400,
      'INVALID_IF_MATCH',
    );
  });

  it('a body that is not JSON', async () => {
    await expectProblem(invoke('createProject', alice, { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});
