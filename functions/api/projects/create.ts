import { createProject } from '../../domain/projects';
import { CreateProjectBody } from '../../domain/schemas';
import { mutationHandler } from '../mutation-handler';
import { create } from '../creation';

export const handler = mutationHandler({ body: CreateProjectBody }, async (request) => {
  const { status, doc } = await create(request, (id) => createProject(request.caller, request.trace, { ...request.body, id }));
  return { status, body: doc, headers: { Location: `/projects/${doc.id}` } };
});
