import type { RouteGroup, SloDeclaration } from '../declaration';

/**
 * Which SLOs' fast-burn alarms roll back a function's deployment (review M7, docs/reliability.md): those the function
 * can burn.
 *
 * - a route function (reads, mutations, the feed's WebSocket routes): every errors and latency SLO counted on its route
 *   group (availability, and the group's own error and latency SLOs);
 * - the authorizer: availability, which every route group counts;
 * - a worker: the delay SLO it serves (the broadcast and fan-out workers: feed delivery; the notifications, Slack and e-mail
 *   workers: notification delivery; the outbox relay: outbox lag). The other workers (sync, reports, sweep, the
 *   probes) serve no SLO: their own rollback alarms gate them.
 */
export function routeGroupGates(slos: Readonly<Record<string, SloDeclaration>>, group: RouteGroup): string[] {
  return Object.entries(slos)
    .filter(([, slo]) => slo.sli.kind !== 'delay' && slo.sli.routeGroups.includes(group))
    .map(([name]) => name);
}

/** The SLOs every route group counts: the authorizer's gates. */
export function allRouteGroupsGates(slos: Readonly<Record<string, SloDeclaration>>): string[] {
  const groups: RouteGroup[] = ['reads', 'mutations', 'feed'];
  return Object.entries(slos)
    .filter(([, slo]) => slo.sli.kind !== 'delay' && groups.every((group) => (slo.sli as { routeGroups: readonly RouteGroup[] }).routeGroups.includes(group)))
    .map(([name]) => name);
}

/** The delay SLO each worker serves, by queue or schedule name. */
const WORKER_SLO_METRICS: Readonly<Record<string, string>> = {
  broadcast: 'FeedDeliveryMs',
  feedFanout: 'FeedDeliveryMs',
  notifications: 'NotificationDeliveryMs',
  slack: 'NotificationDeliveryMs',
  email: 'NotificationDeliveryMs',
  outboxRelay: 'OutboxOldestUnpublishedAgeSeconds',
};

/** The SLOs a worker (a queue's consumer or a schedule's function, by its declared name) gates on. */
export function workerGates(slos: Readonly<Record<string, SloDeclaration>>, worker: string): string[] {
  const metric = WORKER_SLO_METRICS[worker];
  return Object.entries(slos)
    .filter(([, slo]) => slo.sli.kind === 'delay' && slo.sli.metric === metric)
    .map(([name]) => name);
}
