import { createLink } from '../../domain/links';
import { CreateLinkBody } from '../../domain/sync-schemas';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

// 201 when this request made the link (an earlier attempt of the same keyed request included), 200 when
// the project already had it.
export const handler = mutationHandler({ body: CreateLinkBody }, async (request) => {
  const derived = request.body.id === undefined ? request.idempotencyId : undefined;
  const { doc, created } = await createLink(request.caller, idParam(request, 'projectId', 'Project'), { ...request.body, id: request.body.id ?? derived });
  return { status: created || (derived !== undefined && doc.id === derived) ? 201 : 200, body: doc };
});
