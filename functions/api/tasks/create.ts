import { CreateTaskBody } from '../../domain/schemas';
import { createTask, etagOf } from '../../domain/tasks';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';
import { create } from '../creation';

export const handler = mutationHandler({ body: CreateTaskBody }, async (request) => {
  const projectId = idParam(request, 'projectId', 'Project');
  const { status, doc: task } = await create(request, (id) => createTask(request.caller, request.trace, projectId, { ...request.body, id }));
  return { status, body: task, headers: { ETag: etagOf(task), Location: `/tasks/${task.id}` } };
});
