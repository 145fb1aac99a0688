import { channel } from 'node:diagnostics_channel';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, OUTBOX_METRICS, ROUTE_GROUP_DIMENSION, SERVICE_NAME, SLI_CHANNEL, SLI_METRICS } from './telemetry';

/** Where a request is counted: REST GETs, the other REST methods, the WebSocket feed's messages. */
export type RouteGroup = 'reads' | 'mutations' | 'feed';

/** One SLI sample, as the local runtime receives it (the same value the EMF line carries). */
export interface SliSample {
  metric: string;
  value: number;
  routeGroup?: RouteGroup;
}

// Published only when someone listens (the local runtime); in Lambda nobody does and it costs a check.
const samples = channel(SLI_CHANNEL);
const serviceName = () => process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME;

// Their own Metrics objects: the routeGroup dimension must not land on the handler's other metrics. Made on first
// use, inside an invocation (Powertools reads POWERTOOLS_METRICS_DISABLED when it is made).
const byRouteGroup = new Map<RouteGroup, Metrics>();
let delayMetrics: Metrics | undefined;

/** One request of a route group: how long it took and whether it answered a server error (5xx). */
export function recordRequest(routeGroup: RouteGroup, latencyMs: number, serverError: boolean): void {
  let metrics = byRouteGroup.get(routeGroup);
  if (!metrics) {
    metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: serviceName(), defaultDimensions: { [ROUTE_GROUP_DIMENSION]: routeGroup } });
    byRouteGroup.set(routeGroup, metrics);
  }
  metrics.addMetric(SLI_METRICS.latency, MetricUnit.Milliseconds, latencyMs);
  metrics.addMetric(SLI_METRICS.serverErrors, MetricUnit.Count, serverError ? 1 : 0);
  metrics.publishStoredMetrics();
  publish({ metric: SLI_METRICS.latency, value: latencyMs, routeGroup });
  publish({ metric: SLI_METRICS.serverErrors, value: serverError ? 1 : 0, routeGroup });
}

/** Events delivered, each with its delay in milliseconds: commit → feed frame, or event → notification sent. */
export function recordDelays(metric: typeof SLI_METRICS.feedDelivery | typeof SLI_METRICS.notificationDelivery, delaysMs: readonly number[]): void {
  if (delaysMs.length === 0) return;
  delayMetrics ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: serviceName() });
  for (const delay of delaysMs) {
    delayMetrics.addMetric(metric, MetricUnit.Milliseconds, delay);
    publish({ metric, value: delay });
  }
  delayMetrics.publishStoredMetrics();
}

/**
 * The outbox relay's age of the oldest unpublished entry, already emitted with its other metrics: only published
 * here, for the local count.
 */
export function publishOutboxAge(seconds: number): void {
  publish({ metric: OUTBOX_METRICS.oldestUnpublishedAge, value: seconds });
}

function publish(sample: SliSample): void {
  if (samples.hasSubscribers) samples.publish(sample);
}
