import { removeMember } from '../../domain/members';
import { UserId } from '../../domain/schemas';
import { notFound } from '../../shared/problem';
import { mutationHandler } from '../mutation-handler';

export const handler = mutationHandler({}, async (request) => {
  const userId = request.params.userId ?? '';
  // Any user id a token may carry; one that cannot be is no member of the organization.
  if (!UserId.safeParse(userId).success) throw notFound('Member');
  await removeMember(request.caller, request.trace, userId);
  return { status: 204 };
});
