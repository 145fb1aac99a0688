import { describe, expect, it } from 'vitest';
import { sweepAttachments } from '../../functions/domain/attachments';
import { deleteObject, headObject } from '../../functions/shared/s3';
import { createProject, createTask, invoke, newCaller, type Caller } from '../support/api';
import { sql } from '../support/sql';

// Review S5: uploads go straight to S3 through a presigned POST that S3 itself holds to the declared type
// and 50 MB; confirming records a file once (a retried confirm answers the same attachment, a confirm of
// nothing answers 404 and records nothing); storage counts towards the plan.
async function taskOf(caller: Caller) {
  const project = await createProject(caller);
  return createTask(caller, project.id);
}

async function start(caller: Caller, taskId: string, body: { fileName: string; contentType: string; size: number }) {
  return invoke('startAttachmentUpload', caller, { params: { taskId }, body });
}

/** The browser's part: a multipart POST of the form's fields and the file, straight to S3. */
async function upload(form: { url: string; fields: Record<string, string> }, content: Buffer, overrides: Record<string, string> = {}) {
  const data = new FormData();
  for (const [name, value] of Object.entries({ ...form.fields, ...overrides })) data.append(name, value);
  data.append('file', new Blob([content]), 'upload.bin');
  const response = await fetch(form.url, { method: 'POST', body: data });
  return { status: response.status, body: await response.text() };
}

const storage = (caller: Caller) =>
  sql<{ bytes: number }>('SELECT storage_bytes::int AS bytes FROM organizations WHERE id = $1', [caller.orgId]).then((rows) => rows[0]!.bytes);
const rowsOf = (caller: Caller) => sql('SELECT id FROM attachments WHERE organization_id = $1', [caller.orgId]);

describe('attachments', () => {
  it('uploads through the presigned POST, records the file once however often it is confirmed, and serves it back', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    const content = Buffer.from('minutes of the kick-off meeting\n');
    const started = await start(alice, task.id, { fileName: 'kick-off notes.txt', contentType: 'text/plain', size: content.length });
    expect(started.status).toBe(201);
    expect(started.body.upload.fields.key).toBe(`pending/${alice.orgId}/${started.body.attachmentId}`);
    expect((await upload(started.body.upload, content)).status).toBeLessThan(300);

    const params = { attachmentId: started.body.attachmentId };
    const confirms = await Promise.all([0, 1, 2, 3].map(() => invoke('confirmAttachment', alice, { params })));
    expect(confirms.map((c) => c.status).sort()).toEqual([200, 200, 200, 201]);
    expect(new Set(confirms.map((c) => JSON.stringify(c.body))).size).toBe(1);
    expect(confirms[0]!.body).toMatchObject({ id: params.attachmentId, taskId: task.id, fileName: 'kick-off notes.txt', contentType: 'text/plain', size: content.length });
    expect((await invoke('confirmAttachment', alice, { params })).status).toBe(200);
    expect(await rowsOf(alice)).toHaveLength(1);
    expect(await storage(alice)).toBe(content.length);

    const listed = await invoke('listAttachments', alice, { params: { taskId: task.id } });
    expect(listed.body.items).toHaveLength(1);
    const download = await fetch(listed.body.items[0].downloadUrl);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
    expect(download.headers.get('content-disposition')).toContain('kick-off%20notes.txt');
  });

  it('answers 404 and records nothing for a confirm of an upload that never happened', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    const started = await start(alice, task.id, { fileName: 'never.pdf', contentType: 'application/pdf', size: 10 });
    const confirmed = await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } });
    expect(confirmed.status).toBe(404);
    expect(await rowsOf(alice)).toHaveLength(0);
    expect(await storage(alice)).toBe(0);
  });

  it('is refused by S3 itself when the file is over 50 MB or of another type than declared', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    const started = await start(alice, task.id, { fileName: 'big.zip', contentType: 'application/zip', size: 50 * 1024 * 1024 });
    const oversize = await upload(started.body.upload, Buffer.alloc(50 * 1024 * 1024 + 1));
    expect(oversize.status).toBe(400);
    expect(oversize.body).toContain('EntityTooLarge');
    const retyped = await upload(started.body.upload, Buffer.from('#!/bin/sh'), { 'Content-Type': 'application/x-sh' });
    expect(retyped.status).toBe(403);
    expect((await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } })).status).toBe(404);
    expect(await rowsOf(alice)).toHaveLength(0);
  });

  it('is refused by S3 itself when the file is not the size it declared (the quota was checked against that size)', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    const started = await start(alice, task.id, { fileName: 'small.txt', contentType: 'text/plain', size: 16 });
    expect(started.body.maxBytes).toBe(16);
    const larger = await upload(started.body.upload, Buffer.alloc(4096, 'x'));
    expect(larger.status).toBe(400);
    expect(larger.body).toContain('EntityTooLarge');
    const smaller = await upload(started.body.upload, Buffer.alloc(15, 'x'));
    expect(smaller.status).toBe(400);
    expect(smaller.body).toContain('EntityTooSmall');
    expect((await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } })).status).toBe(404);
    expect(await rowsOf(alice)).toHaveLength(0);
    expect(await storage(alice)).toBe(0);

    expect((await upload(started.body.upload, Buffer.alloc(16, 'x'))).status).toBeLessThan(300);
    const confirmed = await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } });
    expect(confirmed.status).toBe(201);
    expect(confirmed.body.size).toBe(16);
  });

  it('refuses types off the list and sizes over 50 MB before any upload', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    expect((await start(alice, task.id, { fileName: 'x.exe', contentType: 'application/x-msdownload', size: 10 })).status).toBe(400);
    expect((await start(alice, task.id, { fileName: 'x.zip', contentType: 'application/zip', size: 50 * 1024 * 1024 + 1 })).status).toBe(400);
  });

  it('lists a task without attachments as an empty list', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    const listed = await invoke('listAttachments', alice, { params: { taskId: task.id } });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ items: [] });
  });

  it('deletes an attachment and its storage; the sweep removes a record whose object is gone', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    const ids: string[] = [];
    for (const name of ['a.txt', 'b.txt']) {
      const started = await start(alice, task.id, { fileName: name, contentType: 'text/plain', size: 3 });
      await upload(started.body.upload, Buffer.from('abc'));
      expect((await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } })).status).toBe(201);
      ids.push(started.body.attachmentId);
    }
    expect(await storage(alice)).toBe(6);
    expect((await invoke('deleteAttachment', alice, { params: { attachmentId: ids[0]! } })).status).toBe(204);
    expect(await headObject(`attachments/${alice.orgId}/${ids[0]}`)).toBeNull();
    expect(await storage(alice)).toBe(3);

    await deleteObject(`attachments/${alice.orgId}/${ids[1]}`); // gone behind TaskFlow's back
    const swept = await sweepAttachments({ requestId: 'sweep-test', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect(swept.removed).toBeGreaterThanOrEqual(1);
    expect(await rowsOf(alice)).toHaveLength(0);
    expect(await storage(alice)).toBe(0);
  });

  it('counts storage towards the plan: refused at start and at confirm past the limit, freed with the task', async () => {
    const alice = newCaller();
    const task = await taskOf(alice);
    const limit = 5 * 1024 ** 3;
    const started = await start(alice, task.id, { fileName: 'fits.txt', contentType: 'text/plain', size: 4 });
    await upload(started.body.upload, Buffer.from('fits'));
    await sql('UPDATE organizations SET storage_bytes = $2 WHERE id = $1', [alice.orgId, limit - 2]);
    const full = await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } });
    expect(full.status).toBe(429);
    expect(full.body).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'storageBytes', plan: 'free', limit });
    expect((await start(alice, task.id, { fileName: 'more.txt', contentType: 'text/plain', size: 3 })).status).toBe(429);

    await sql('UPDATE organizations SET storage_bytes = 0 WHERE id = $1', [alice.orgId]);
    expect((await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } })).status).toBe(201);
    expect(await storage(alice)).toBe(4);
    expect((await invoke('deleteTask', alice, { params: { taskId: task.id } })).status).toBe(204);
    expect(await storage(alice)).toBe(0);
    expect(await rowsOf(alice)).toHaveLength(0);
  });

  it('keeps another organization out of an upload and its attachments', async () => {
    const alice = newCaller();
    const eve = newCaller();
    const task = await taskOf(alice);
    const started = await start(alice, task.id, { fileName: 'secret.txt', contentType: 'text/plain', size: 6 });
    await upload(started.body.upload, Buffer.from('secret'));
    const params = { attachmentId: started.body.attachmentId };
    expect((await invoke('confirmAttachment', eve, { params })).status).toBe(404);
    expect((await invoke('confirmAttachment', alice, { params })).status).toBe(201);
    expect((await invoke('getAttachment', eve, { params })).status).toBe(404);
    expect((await invoke('deleteAttachment', eve, { params })).status).toBe(404);
    expect((await invoke('getAttachment', alice, { params })).status).toBe(200);
  });
});
