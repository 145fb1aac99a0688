import { CreateTaskBody } from '../../domain/schemas';
import { createTask, etagOf } from '../../domain/tasks';
import { httpHandler, idParam } from '../../shared/http';

export const handler = httpHandler({ body: CreateTaskBody }, async (request) => {
  const { doc: task, created } = await createTask(request.caller, request.requestId, idParam(request, 'projectId', 'Project'), request.body);
  return { status: created ? 201 : 200, body: task, headers: { ETag: etagOf(task), Location: `/tasks/${task.id}` } };
});
