import { randomBytes } from 'node:crypto';
import { TRACE_SAMPLING } from './telemetry';

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

/**
 * The caller's `traceparent` continued with a span of ours, or a new trace when it sent none (or garbage). `sampled`,
 * when given, is our decision and goes in the flags (W3C: a service may change the sampled flag), so every function
 * the request reaches follows it; otherwise the caller's flags are kept (a message carries the API's decision).
 */
export function continueTrace(traceparent: string | undefined, sampled?: boolean): string {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  const traceId = match ? match[1] : randomBytes(16).toString('hex');
  const flags = sampled === undefined ? (match ? match[2] : '01') : withSampled(match ? match[2]! : '00', sampled);
  return `00-${traceId}-${span()}-${flags}`;
}

/** Whether the work a traceparent names is sampled: bit 0 of its flags. */
export const isSampled = (traceparent: string): boolean => (parseInt(traceparent.slice(-2), 16) & 1) === 1;

const withSampled = (flags: string, sampled: boolean) => ((parseInt(flags, 16) & ~1) | (sampled ? 1 : 0)).toString(16).padStart(2, '0');

/**
 * Whether a request's spans are written (docs/observability.md): always with the debug header or from the canary;
 * otherwise as X-Ray decided for it (API Gateway applies the sampling rules; Lambda passes the decision in the trace
 * header). Without an X-Ray header (the local runtime, tests) every request is.
 */
export function sampledRequest(headers: Record<string, string>, xrayHeader = xrayTraceHeader()): boolean {
  if (headers[TRACE_SAMPLING.debugHeader.toLowerCase()] === TRACE_SAMPLING.debugValue) return true;
  if (headers['user-agent']?.startsWith(TRACE_SAMPLING.canaryUserAgentPrefix)) return true;
  return xrayHeader === undefined || /(?:^|;)\s*Sampled=1\s*(?:;|$)/.test(xrayHeader);
}

/** This invocation's X-Ray trace header: from the runtime's invoke store (several invocations at once), else the environment. */
function xrayTraceHeader(): string | undefined {
  const store = (globalThis as { awslambda?: { InvokeStore?: { getXRayTraceId?: () => string | undefined } } }).awslambda?.InvokeStore;
  return store?.getXRayTraceId?.() || process.env._X_AMZN_TRACE_ID || undefined;
}

const span = () => randomBytes(8).toString('hex');
