import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';
import { sql } from '../support/sql';

// Issue 17 end to end on the local runtime (strict as Lambda): DELETE /projects/{projectId} over HTTP, the
// project.deleted event through the outbox to the declared `deletions` queue, its consumer (with only its declared
// capabilities) removing the project's rows and its attachment's object.
let runtime: LocalRuntime;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-deletion-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: inject('databaseUrl'), schedules: false });
});

afterAll(async () => {
  await runtime.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('deleting a project on the local runtime', () => {
  it('hides it at once, and the deletions worker removes its rows and files', async () => {
    const org = `org_deletion_${Date.now()}`;
    const token = await runtime.issuer.mint({ org, user: 'ann', role: 'admin' });
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, body: response.status === 204 ? null : ((await response.json()) as Record<string, any>) };
    };
    const project = (await call('POST', '/projects', { name: 'Doomed' })).body!;
    const task = (await call('POST', `/projects/${project.id}/tasks`, { title: 'Has a file' })).body!;
    await call('POST', `/tasks/${task.id}/comments`, { body: 'A comment' });
    const started = (await call('POST', `/tasks/${task.id}/attachments`, { fileName: 'a.txt', contentType: 'text/plain', size: 3 })).body!;
    const form = new FormData();
    for (const [name, value] of Object.entries(started.upload.fields as Record<string, string>)) form.append(name, value);
    form.append('file', new Blob([Buffer.from('abc')]), 'a.txt');
    expect((await fetch(started.upload.url, { method: 'POST', body: form })).status).toBeLessThan(300);
    expect((await call('POST', `/attachments/${started.attachmentId}/confirm`)).status).toBe(201);

    expect((await call('DELETE', `/projects/${project.id}`)).status).toBe(204);
    expect((await call('GET', `/projects/${project.id}`)).status).toBe(404);

    // The queue's consumer runs as the event-source mapping delivers the message.
    const deadline = Date.now() + 30_000;
    while ((await sql('SELECT 1 FROM projects WHERE id = $1', [project.id])).length > 0) {
      expect(Date.now(), 'the deletions worker did not remove the project').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await sql('SELECT id FROM tasks WHERE project_id = $1', [project.id])).toEqual([]);
    expect(await sql('SELECT id FROM attachments WHERE task_id = $1', [task.id])).toEqual([]);
    const { AWS_ENDPOINT_URL_S3: endpoint, FILES_BUCKET_NAME: bucket, AWS_REGION: region, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } =
      runtime.s3.environment;
    const s3 = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! } });
    await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `attachments/${org}/${started.attachmentId}` }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    s3.destroy();
    const usage = (await call('GET', '/organization/usage')).body!;
    expect(usage.quotas).toMatchObject({ projects: { used: 0 }, tasks: { used: 0 }, storageBytes: { used: 0 } });
  });
});
