/**
 * The AWS calls made from this environment, counted at the wire (each attempt, retries included), by
 * `service operation target`, e.g. `dynamodb UpdateItem taskflow-rateLimits`: the benchmark's cost model and its
 * writes per request read them, as `roundTrips` (db.ts) counts the database's. Bytes are the request's and the
 * answer's bodies, from which the model sizes DynamoDB's units.
 */
export interface AwsCallCount {
  calls: number;
  requestBytes: number;
  responseBytes: number;
}

export const awsCalls = new Map<string, AwsCallCount>();

/** Counts one call; returns a function that adds its answer's size once it is read. */
export function countAwsCall(service: string, operation: string, target: string | undefined, requestBytes: number): (responseBytes: number) => void {
  const key = `${service} ${operation} ${target ?? '-'}`;
  const count = awsCalls.get(key) ?? { calls: 0, requestBytes: 0, responseBytes: 0 };
  count.calls += 1;
  count.requestBytes += requestBytes;
  awsCalls.set(key, count);
  return (responseBytes) => {
    count.responseBytes += responseBytes;
  };
}
