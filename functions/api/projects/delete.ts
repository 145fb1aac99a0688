import { deleteProject } from '../../domain/projects';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  await deleteProject(request.caller, request.trace, idParam(request, 'projectId', 'Project'));
  return { status: 204 };
});
