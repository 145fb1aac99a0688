import { createProject } from '../../domain/projects';
import { CreateProjectBody } from '../../domain/schemas';
import { httpHandler } from '../../shared/http';

export const handler = httpHandler({ body: CreateProjectBody }, async ({ caller, requestId, body }) => {
  const { doc, created } = await createProject(caller, requestId, body);
  return { status: created ? 201 : 200, body: doc };
});
