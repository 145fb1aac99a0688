import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { isSampled, type Trace } from './trace';

// Spans as structured log lines (review M2; the decision and its measured cost: docs/observability.md). Every line of
// an invocation already carries its request id (correlation_id), traceparent and, in Lambda, xray_trace_id; a span
// line adds what one piece of work took: `{"message":"span","span":{name,kind,start,durationMs,outcome,spanId,
// parentSpanId,…}}`. Nothing is sent anywhere but the log, so no SDK, no daemon, no init cost.

/** What a span line records: the work's name and kind, and a few flat facts (never values a user typed). */
export type SpanKind = 'invocation' | 'message' | 'db' | 'dynamodb' | 'sqs' | 'aws' | 'http' | 'outbox';
export type SpanFacts = Record<string, string | number | boolean | undefined>;

/** Requests and messages that took longer are written down whatever the sampling decision (with their spans). */
export const SLOW_MS = 1_000;
/** An invocation's spans held while it is not sampled, in case it fails or is slow; the rest are counted, not kept. */
const MAX_HELD = 200;

interface Traced {
  trace: Trace;
  log: Logger;
  /** This invocation's span id: the parent of every span it records. */
  spanId: string;
  sampled: boolean;
  /** Spans of an unsampled invocation, written only if it turns out failed or slow. */
  held: SpanFacts[];
  dropped: number;
}

const current = new AsyncLocalStorage<Traced>();

/** The span id a traceparent names (its third field). */
const spanIdOf = (traceparent: string) => traceparent.split('-')[2] ?? '';
const newSpanId = () => randomBytes(8).toString('hex');

/**
 * Runs `run` as one traced piece of work (a request, a message): the spans recorded inside it are written with its
 * logger, or held if its traceparent says it is not sampled. `finish` ends it: its own span is written, and when it
 * failed or was slow, an `attention` line and every held span too, so errors and slow requests are found whatever
 * the sampling.
 */
export function traced<T>(trace: Trace, log: Logger, run: (finish: (end: InvocationEnd) => void) => Promise<T>): Promise<T> {
  const state: Traced = { trace, log, spanId: spanIdOf(trace.traceparent), sampled: isSampled(trace.traceparent), held: [], dropped: 0 };
  const start = Date.now();
  return current.run(state, () => run((end) => finishInvocation(state, start, end)));
}

export interface InvocationEnd {
  kind: 'invocation' | 'message';
  name: string;
  /** A 5xx answer, a message that failed. */
  failed: boolean;
  facts?: SpanFacts;
}

function finishInvocation(state: Traced, start: number, { kind, name, failed, facts }: InvocationEnd): void {
  const durationMs = Date.now() - start;
  const slow = durationMs > SLOW_MS;
  // The invocation's own span: it is the parent of the others, named by the traceparent this work carries.
  const own = { name, kind, start, durationMs, outcome: failed ? 'error' : 'ok', spanId: state.spanId, ...facts };
  if (state.sampled) {
    write(state, own);
  } else if (failed || slow) {
    for (const held of state.held) write(state, held);
    write(state, { ...own, ...(state.dropped ? { droppedSpans: state.dropped } : {}) });
  }
  if (failed || slow) {
    // The line Logs Insights finds every failed or slow request by (docs/observability.md); Powertools adds xray_trace_id.
    state.log.warn('attention', { attention: failed ? 'failed' : 'slow', name, durationMs, traceId: state.trace.traceparent.split('-')[1], sampled: state.sampled, ...facts });
  }
}

function write(state: Traced, span: SpanFacts): void {
  state.log.info('span', { span });
}

/**
 * Times `run` as a span of the current traced work (a no-op outside one: the local runtime's own calls, tools).
 * `describe` adds facts from the result (a status, a row count); a throw is recorded as the span's error.
 */
export async function span<T>(kind: SpanKind, name: string, facts: SpanFacts, run: () => Promise<T>, describe?: (result: T) => SpanFacts): Promise<T> {
  const state = current.getStore();
  if (!state) return run();
  const start = Date.now();
  try {
    const result = await run();
    keep(state, { name, kind, start, durationMs: Date.now() - start, outcome: 'ok', ...facts, ...(describe ? describe(result) : {}) });
    return result;
  } catch (error) {
    keep(state, { name, kind, start, durationMs: Date.now() - start, outcome: 'error', ...facts, error: String((error as Error)?.message ?? error).slice(0, 300) });
    throw error;
  }
}

/** Records a span that already happened (the time a message waited in its queue), as `span` would. */
export function recordSpan(kind: SpanKind, name: string, start: number, durationMs: number, facts: SpanFacts = {}): void {
  const state = current.getStore();
  if (state) keep(state, { name, kind, start, durationMs, outcome: 'ok', ...facts });
}

/** A child span of the current work: written now if sampled, else held (up to MAX_HELD) for finishInvocation. */
function keep(state: Traced, line: SpanFacts): void {
  const child = { ...line, spanId: newSpanId(), parentSpanId: state.spanId };
  if (state.sampled) write(state, child);
  else if (state.held.length < MAX_HELD) state.held.push(child);
  else state.dropped += 1;
}

/**
 * A span of work done for another request outside its own invocation (the outbox relay publishing its entry): written
 * on a line of that request's correlation when its traceparent says it is sampled.
 */
export function recordFor(trace: Trace, log: Logger, kind: SpanKind, name: string, start: number, durationMs: number, facts: SpanFacts = {}): void {
  if (!isSampled(trace.traceparent)) return;
  const own = log.createChild();
  own.setCorrelationId(trace.requestId);
  own.appendKeys({ traceparent: trace.traceparent });
  own.info('span', { span: { name, kind, start, durationMs, outcome: 'ok', spanId: newSpanId(), parentSpanId: spanIdOf(trace.traceparent), ...facts } });
}
