import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { RequestListener } from 'node:http';
import type { SliSample } from '../../functions/shared/sli';
import { SLI_CHANNEL } from '../../functions/shared/telemetry';
import type { SloDeclaration } from '../declaration';
import { countSli } from '../slo/sli-queries';
import { sloStatus, type SloStatus } from '../slo/report';

// The local runtime's SLIs: the samples the handlers record (functions/shared/sli.ts) — the same call that writes the
// EMF line CloudWatch turns into the metrics the alarms read — received on their diagnostics channel and counted
// against the declared SLOs with the same definition of a good event (lib/slo/sli-queries.ts). The channel is the
// process's: two runtimes started in one process (tests do not) would each count both.

/** At most this many samples are kept (the oldest go first): hours of local traffic in a few megabytes. */
const MAX_SAMPLES = 200_000;

export interface SliCounter {
  /** Each SLO's compliance and error budget left, over the samples since the runtime started. */
  statuses(): SloStatus[];
  stop(): void;
}

export function countSlis(slos: Readonly<Record<string, SloDeclaration>>): SliCounter {
  let samples: SliSample[] = [];
  const record = (message: unknown) => {
    samples.push(message as SliSample);
    if (samples.length > MAX_SAMPLES) samples = samples.slice(-MAX_SAMPLES / 2);
  };
  subscribe(SLI_CHANNEL, record);
  return {
    statuses: () => Object.entries(slos).map(([name, slo]) => sloStatus(name, slo, countSli(slo.sli, samples))),
    stop: () => unsubscribe(SLI_CHANNEL, record),
  };
}

/** `GET /_local/slo`: the SLOs as counted here (local only; the deployed API has no such route). */
export const SLO_PATH = '/_local/slo';

/** The local SLO report in front of `next`: `GET /_local/slo` answers `{ "slos": [SloStatus…] }`. */
export function sloEndpoint(counter: SliCounter, next: RequestListener): RequestListener {
  return (req, res) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== SLO_PATH || req.method !== 'GET') return next(req, res);
    req.resume();
    const payload = JSON.stringify({ slos: counter.statuses() });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
    res.end(payload);
  };
}
