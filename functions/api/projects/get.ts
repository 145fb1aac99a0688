import { getProject } from '../../domain/projects';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => ({
  status: 200,
  body: await getProject(request.caller, idParam(request, 'projectId', 'Project')),
}));
