import { listReports } from '../../domain/reports';
import { ListReportsQuery } from '../../domain/sync-schemas';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({ query: ListReportsQuery }, async (request) => ({
  status: 200,
  body: await listReports(request.caller, idParam(request, 'projectId', 'Project'), request.query),
}));
