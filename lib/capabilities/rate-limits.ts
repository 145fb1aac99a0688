import { dynamoDbTable } from './dynamodb-table';

/**
 * The rate-limit table (token buckets and hourly request counts, and the members removed from their organization),
 * which every JWT route's function and the feed's $connect check before they serve a request
 * (functions/api/http-handler.ts, functions/shared/removed-members.ts).
 */
export const rateLimits = dynamoDbTable('rateLimits', 'rate-limits', {
  summary: 'Gets and updates items of the rate-limit table (RATELIMITS_TABLE_NAME): every JWT route checks its caller first',
  missing: 'the rate-limit table',
  settings: ['RATE_LIMIT_SCALE', 'RATE_LIMIT_TIMEOUT_MS'],
  // Conditional updates and a consistent read: all the limiter does.
  grant: (table, fn) => table.grant(fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem'),
  // dynalite is slower than DynamoDB under a burst (lib/local/dynamodb.ts).
  local: (dynamodb) => ({ RATE_LIMIT_TIMEOUT_MS: dynamodb.callTimeoutMs }),
});
