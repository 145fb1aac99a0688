import { getMe } from '../../domain/members';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await getMe(request.caller) }));
