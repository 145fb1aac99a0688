import { activityPage } from '../../domain/feed';
import { ActivityQuery } from '../../domain/schemas';
import { httpHandler } from '../http-handler';

/** The feed's REST catch-up: events after afterSeq, in order, whole (no replay window, no frame limit). */
export const handler = httpHandler({ query: ActivityQuery }, async ({ caller, query }) => ({
  status: 200,
  body: await activityPage(caller.orgId, query.afterSeq, query.projectId ?? null, query.limit),
}));
