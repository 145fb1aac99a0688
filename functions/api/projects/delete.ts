import { deleteProject } from '../../domain/projects';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

export const handler = mutationHandler({}, async (request) => {
  await deleteProject(request.caller, request.trace, idParam(request, 'projectId', 'Project'));
  return { status: 204 };
});
