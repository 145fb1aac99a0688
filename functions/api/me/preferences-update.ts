import { UpdatePreferencesBody } from '../../domain/member-schemas';
import { updatePreferences } from '../../domain/preferences';
import { mutationHandler } from '../mutation-handler';

export const handler = mutationHandler({ body: UpdatePreferencesBody }, async (request) => ({
  status: 200,
  body: await updatePreferences(request.caller, request.trace, request.body),
}));
