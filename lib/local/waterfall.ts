import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

// `npm run trace -- <requestId>`: one request's spans (functions/shared/spans.ts) from the local runtime's function
// logs, across every function it reached, as a waterfall.

export interface Span {
  /** The function whose log line it is (Powertools' function_name). */
  functionName: string;
  name: string;
  kind: string;
  /** Epoch milliseconds. */
  start: number;
  durationMs: number;
  outcome: string;
  /** A span inside an invocation (it has a parent), rather than the invocation or message itself. */
  child: boolean;
  facts: Record<string, unknown>;
}

/** Every span line of `requestId` in a function log file (one JSON object a line), in order of start. */
export async function readSpans(file: string, requestId: string): Promise<Span[]> {
  const spans: Span[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.includes(requestId)) continue;
    let entry: { message?: unknown; correlation_id?: unknown; function_name?: unknown; span?: Record<string, unknown> };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.message !== 'span' || entry.correlation_id !== requestId || !entry.span) continue;
    const { name, kind, start, durationMs, outcome, parentSpanId, spanId: _spanId, ...facts } = entry.span;
    spans.push({
      functionName: String(entry.function_name ?? '?'),
      name: String(name),
      kind: String(kind),
      start: Number(start),
      durationMs: Number(durationMs),
      outcome: String(outcome),
      child: parentSpanId !== undefined,
      facts,
    });
  }
  // By start; an invocation before the spans that begin with it.
  return spans.sort((a, b) => a.start - b.start || Number(a.child) - Number(b.child));
}

const BAR_WIDTH = 32;

/** The waterfall as text: each span's offset from the first, its duration, function, kind and name, and a bar. */
export function waterfall(requestId: string, spans: readonly Span[]): string {
  if (spans.length === 0) return `No spans of request ${requestId}.`;
  const first = spans[0]!.start;
  const end = Math.max(...spans.map((span) => span.start + span.durationMs));
  const total = Math.max(1, end - first);
  const functions = [...new Set(spans.map((span) => span.functionName))];
  const nameWidth = Math.max(8, ...functions.map((name) => name.length));
  const header = `Request ${requestId}: ${total} ms across ${functions.length} function${functions.length === 1 ? '' : 's'} (${functions.join(', ')})`;
  const rows = spans.map((span) => {
    const offset = span.start - first;
    const from = Math.min(BAR_WIDTH - 1, Math.floor((offset / total) * BAR_WIDTH));
    const width = Math.max(1, Math.round((span.durationMs / total) * BAR_WIDTH));
    const bar = `${' '.repeat(from)}${'█'.repeat(Math.min(width, BAR_WIDTH - from))}`.padEnd(BAR_WIDTH);
    const detail = [span.facts.status, span.facts.rows !== undefined ? `${span.facts.rows} rows` : undefined, span.outcome === 'error' ? `ERROR ${span.facts.error ?? ''}`.trim() : undefined]
      .filter((part) => part !== undefined)
      .join(', ');
    return [
      `+${offset} ms`.padStart(10),
      `${span.durationMs} ms`.padStart(9),
      ` |${bar}| `,
      span.functionName.padEnd(nameWidth),
      `  ${span.child ? '  ' : ''}${span.kind.padEnd(10)} ${span.name}${detail ? `  (${detail})` : ''}`,
    ].join('');
  });
  return [header, '', `${'start'.padStart(10)}${'took'.padStart(9)}  ${'timeline'.padEnd(BAR_WIDTH)}  ${'function'.padEnd(nameWidth)}  span`, ...rows].join('\n');
}
