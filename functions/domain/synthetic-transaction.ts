import { uuidV5 } from '../shared/uuid';

/**
 * The synthetic transaction (review M7): what a user does, end to end, in an organization of its own — create a task,
 * change its status, comment, upload a file and confirm it, and see each change as an event of the activity feed —
 * then remove what it made. The canary's pre-traffic hook runs it against a function's new version before any traffic
 * moves to it, and the scheduled canary every 5 minutes against the live API; both through a `SyntheticClient`.
 */

/** The REST operations the transaction calls, by operationId: the functions whose new version it exercises. */
export const SYNTHETIC_OPERATIONS = [
  'createProject',
  'listActivity',
  'createTask',
  'updateTask',
  'createComment',
  'startAttachmentUpload',
  'confirmAttachment',
  'deleteAttachment',
  'deleteTask',
] as const;
export type SyntheticOperation = (typeof SYNTHETIC_OPERATIONS)[number];

/** The organization (org_id) the pre-traffic hook acts in; the scheduled canary's is its token's. */
export const SYNTHETIC_ORGANIZATION = 'taskflow-synthetic';
/** The user the pre-traffic hook acts as. */
export const SYNTHETIC_USER = 'synthetic-transaction';

export interface SyntheticCall {
  operationId: SyntheticOperation;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** The route's path as declared, e.g. `/tasks/{taskId}`. */
  path: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

export interface SyntheticResponse {
  status: number;
  body: any;
}

export interface UploadForm {
  url: string;
  fields: Record<string, string>;
}

export interface SyntheticClient {
  call(call: SyntheticCall): Promise<SyntheticResponse>;
  /** A browser's upload: the presigned POST form with the file. */
  upload(form: UploadForm, file: { bytes: Uint8Array; contentType: string; fileName: string }): Promise<void>;
}

/** The step that failed, and why. */
export class SyntheticTransactionFailed extends Error {
  constructor(
    readonly step: string,
    reason: string,
  ) {
    super(`${step}: ${reason}`);
    this.name = 'SyntheticTransactionFailed';
  }
}

export interface SyntheticOutcome {
  taskId: string;
  /** Each step and how long it took. */
  steps: { step: string; ms: number }[];
}

// The transaction's one project in its organization, whatever the number of runs.
const SYNTHETIC_PROJECTS = '5d0c1f3e-8f61-4a0b-b5a6-2b6f0d5c9e21';
/** `/activity` filtered to a project without events is empty and ends at the organization's head. */
const NO_SUCH_PROJECT = '00000000-0000-4000-8000-000000000000';
/** The events the feed must show for the transaction's task, once it has run. */
const EXPECTED_EVENTS = ['task.created', 'task.updated', 'comment.created', 'attachment.added'] as const;

/** The transaction's project in the organization `orgId`: one, whatever the number of runs. */
export const syntheticProjectId = (orgId: string) => uuidV5(orgId, SYNTHETIC_PROJECTS);

/**
 * Runs the transaction for the organization `orgId` (the project is derived from it). Throws
 * SyntheticTransactionFailed naming the first step that did not do what a user expects; what it made is removed
 * either way (a removal that fails after a failed step is not reported over the step's failure).
 */
export async function runSyntheticTransaction(client: SyntheticClient, orgId: string): Promise<SyntheticOutcome> {
  const steps: SyntheticOutcome['steps'] = [];
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } catch (error) {
      if (error instanceof SyntheticTransactionFailed) throw error;
      throw new SyntheticTransactionFailed(name, (error as Error).message);
    } finally {
      steps.push({ step: name, ms: Math.round(performance.now() - started) });
    }
  };
  const expect = async (name: string, call: SyntheticCall, statuses: readonly number[]) =>
    step(name, async () => {
      const response = await client.call(call);
      if (!statuses.includes(response.status)) {
        throw new SyntheticTransactionFailed(name, `${call.method} ${call.path} answered ${response.status} ${JSON.stringify(response.body ?? null).slice(0, 300)}`);
      }
      return response.body;
    });

  const projectId = syntheticProjectId(orgId);
  const taskId = crypto.randomUUID();
  let attachmentId: string | undefined;
  let failure: unknown;
  try {
    await expect('project', { operationId: 'createProject', method: 'POST', path: '/projects', body: { id: projectId, name: 'TaskFlow synthetic transaction', description: 'Used by the canary: every task here is deleted again' } }, [200, 201]);
    const head = await expect('feed position', { operationId: 'listActivity', method: 'GET', path: '/activity', query: { afterSeq: '0', projectId: NO_SUCH_PROJECT, limit: '1' } }, [200]);
    await expect('create task', { operationId: 'createTask', method: 'POST', path: '/projects/{projectId}/tasks', params: { projectId }, body: { id: taskId, title: `Synthetic ${new Date().toISOString()}` } }, [201]);
    const updated = await expect('change status', { operationId: 'updateTask', method: 'PATCH', path: '/tasks/{taskId}', params: { taskId }, body: { version: 1, status: 'in_progress' } }, [200]);
    if (updated?.status !== 'in_progress') throw new SyntheticTransactionFailed('change status', `the task's status is not in_progress: ${JSON.stringify(updated).slice(0, 300)}`);
    await expect('comment', { operationId: 'createComment', method: 'POST', path: '/tasks/{taskId}/comments', params: { taskId }, body: { id: crypto.randomUUID(), body: 'Synthetic comment' } }, [201]);
    const bytes = new TextEncoder().encode(`synthetic transaction ${taskId}\n`);
    const form = await expect('start upload', { operationId: 'startAttachmentUpload', method: 'POST', path: '/tasks/{taskId}/attachments', params: { taskId }, body: { fileName: 'synthetic.txt', contentType: 'text/plain', size: bytes.byteLength } }, [201]);
    attachmentId = form.attachmentId as string;
    await step('upload', () => client.upload(form.upload as UploadForm, { bytes, contentType: 'text/plain', fileName: 'synthetic.txt' }));
    await expect('confirm upload', { operationId: 'confirmAttachment', method: 'POST', path: '/attachments/{attachmentId}/confirm', params: { attachmentId } }, [201]);
    const page = await expect('feed', { operationId: 'listActivity', method: 'GET', path: '/activity', query: { afterSeq: String(head.throughSeq), projectId, limit: '200' } }, [200]);
    const seen = new Set((page.events as { type: string; subjectId: string; payload?: { taskId?: string } }[]).filter((event) => event.subjectId === taskId || event.payload?.taskId === taskId).map((event) => event.type));
    const missing = EXPECTED_EVENTS.filter((type) => !seen.has(type));
    if (missing.length) throw new SyntheticTransactionFailed('feed', `no ${missing.join(', ')} event for the task after seq ${head.throughSeq}`);
  } catch (error) {
    failure = error;
  }
  // Clean up whatever was made, even after a failure; 404: it was never made, or is gone already.
  try {
    if (attachmentId) await expect('remove file', { operationId: 'deleteAttachment', method: 'DELETE', path: '/attachments/{attachmentId}', params: { attachmentId } }, [204, 404]);
    await expect('remove task', { operationId: 'deleteTask', method: 'DELETE', path: '/tasks/{taskId}', params: { taskId } }, [204, 404]);
  } catch (error) {
    failure ??= error;
  }
  if (failure) throw failure;
  return { taskId, steps };
}
