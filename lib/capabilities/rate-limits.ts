import { dynamoDbTable } from './dynamodb-table';

/**
 * The rate-limit table (token buckets and hourly request counts), which every JWT route's function checks before
 * it serves a request (functions/shared/http.ts).
 */
export const rateLimits = dynamoDbTable('rateLimits', 'rate-limits', {
  summary: 'Gets and updates items of the rate-limit table (RATELIMITS_TABLE_NAME): every JWT route checks its caller first',
  missing: 'the rate-limit table',
  settings: ['RATE_LIMIT_SCALE', 'RATE_LIMIT_TIMEOUT_MS'],
  // Conditional updates and a consistent read: all the limiter does.
  grant: (table, fn) => table.grant(fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem'),
  // dynalite answers one call at a time, and one process here plays many Lambda environments: a burst of requests
  // queues calls for seconds, which the limiter's 1 s timeout (meant for DynamoDB) would take for an outage and fail
  // open on.
  local: { RATE_LIMIT_TIMEOUT_MS: '10000' },
});
