import { randomBytes } from 'node:crypto';

/**
 * The correlation a request hands to everything it causes (review M6): its X-Request-Id and a W3C
 * `traceparent`. Both travel as SQS message attributes into every consumer's log lines and out on
 * every outbound call.
 */
export interface Trace {
  requestId: string;
  traceparent: string;
}

// version 00: trace id (16 bytes) and parent span id (8 bytes), neither all zeros, and the flags.
const TRACEPARENT = /^00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-([0-9a-f]{2})$/;

/** The caller's `traceparent` continued with a span of ours, or a new trace when it sent none (or garbage). */
export function continueTrace(traceparent: string | undefined): string {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  return match ? `00-${match[1]}-${span()}-${match[2]}` : `00-${randomBytes(16).toString('hex')}-${span()}-01`;
}

const span = () => randomBytes(8).toString('hex');
