import { updateProject } from '../../domain/projects';
import { UpdateProjectBody } from '../../domain/schemas';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

export const handler = mutationHandler({ body: UpdateProjectBody }, async (request) => ({
  status: 200,
  body: await updateProject(request.caller, request.trace, idParam(request, 'projectId', 'Project'), request.body),
}));
