import { ListMembersQuery } from '../../domain/member-schemas';
import { listMembers } from '../../domain/members';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({ query: ListMembersQuery }, async ({ caller, query }) => ({ status: 200, body: await listMembers(caller, query) }));
