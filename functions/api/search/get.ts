import { SearchQuery } from '../../domain/schemas';
import { search } from '../../domain/search';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({ query: SearchQuery }, async ({ caller, query }) => ({
  status: 200,
  body: { items: await search(caller, query.q, query.limit) },
}));
