import { UpdatePreferencesBody } from '../../domain/member-schemas';
import { updatePreferences } from '../../domain/preferences';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({ body: UpdatePreferencesBody }, async (request) => ({
  status: 200,
  body: await updatePreferences(request.caller, request.trace, request.body),
}));
