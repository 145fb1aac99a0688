import { createProject } from '../../domain/projects';
import { CreateProjectBody } from '../../domain/schemas';
import { httpHandler } from '../../shared/http';

export const handler = httpHandler({ body: CreateProjectBody }, async ({ caller, requestId, body }) => ({
  status: 201,
  body: await createProject(caller, requestId, body),
}));
