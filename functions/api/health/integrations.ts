import type { IntegrationsHealth } from '../../domain/schemas';
import { readStatuses } from '../../integrations/breaker-state';
import { httpHandler } from '../http-handler';
import { integrationQueueDepth } from '../../shared/queue-status';

/** Each integration's breaker, last success and failure, and the backlog and dead letters of its queue. */
export const handler = httpHandler({}, async () => {
  const statuses = await readStatuses();
  const integrations = await Promise.all(
    statuses.map(async (status) => {
      const depth = await integrationQueueDepth(status.integration);
      return {
        integration: status.integration,
        breaker: status.state,
        lastSuccessAt: status.lastSuccessAt,
        lastFailureAt: status.lastFailureAt,
        lastFailureReason: status.lastFailureReason,
        ...depth,
      };
    }),
  );
  const body: typeof IntegrationsHealth._zod.output = {
    degraded: integrations.filter((integration) => integration.breaker !== 'closed').map((integration) => integration.integration),
    integrations,
  };
  return { status: 200, body, headers: { 'Cache-Control': 'no-store' } };
});
