import { updateProject } from '../../domain/projects';
import { UpdateProjectBody } from '../../domain/schemas';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({ body: UpdateProjectBody }, async (request) => ({
  status: 200,
  body: await updateProject(request.caller, request.trace, idParam(request, 'projectId', 'Project'), request.body),
}));
