import { beforeAll, describe, expect, it } from 'vitest';
import { emfLines } from '../support/emf-lines';

// The conflict rate is observable: every PATCH counts TaskUpdates, a merge TaskUpdatesMerged, a
// refusal TaskUpdateConflicts, as CloudWatch Embedded Metric Format lines in the function's log.
let api: typeof import('../support/api');
const lines = emfLines();

beforeAll(async () => {
  api = await import('../support/api');
});

const counted = (name: string) => lines.filter((line) => line[name] === 1 && line._aws.CloudWatchMetrics[0].Namespace === 'TaskFlow').length;

describe('conflict metrics', () => {
  it('counts updates, merges and conflicts', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    const task = await api.createTask(alice, project.id);
    const patch = (body: object) => api.invoke('updateTask', alice, { params: { taskId: task.id }, body });
    expect((await patch({ version: 1, title: 'A' })).status).toBe(200);
    expect((await patch({ version: 1, status: 'done' })).status).toBe(200); // merged
    expect((await patch({ version: 1, title: 'B' })).status).toBe(409);
    expect(counted('TaskUpdates')).toBe(2);
    expect(counted('TaskUpdatesMerged')).toBe(1);
    expect(counted('TaskUpdateConflicts')).toBe(1);
  });
});
