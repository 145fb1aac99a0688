import { INTEGRATION_NAMES } from '../../functions/integrations/services';
import { dynamoDbTable } from './dynamodb-table';

/**
 * The integrations table: each third-party service's circuit breaker, shared by every Lambda environment, and its
 * last success and failure. Written by the functions that call a service, read by the others (the degraded header,
 * the health).
 */
export const integrations = dynamoDbTable('integrations', 'integrations', {
  summary: 'The integrations table (INTEGRATIONS_TABLE_NAME): circuit breakers, written by the functions that call a service, read by the others',
  missing: 'the integrations table',
  settings: ['BREAKER_TIMEOUT_MS'],
  grant(table, fn, needs) {
    // Only the functions that call a service record its breaker's outcomes; the others read its state.
    if (INTEGRATION_NAMES.some((service) => needs.has(service))) table.grantReadWriteData(fn);
    else table.grantReadData(fn);
  },
  // dynalite is slower than DynamoDB under a burst (lib/local/dynamodb.ts).
  local: (dynamodb) => ({ BREAKER_TIMEOUT_MS: dynamodb.callTimeoutMs }),
});
