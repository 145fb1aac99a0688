// Names the functions emit under and the CDK alarms and log settings refer to: declared once here.

/** Powertools' service name: the `service` key of every log line and dimension of every metric. */
export const SERVICE_NAME = 'taskflow';
export const METRICS_NAMESPACE = 'TaskFlow';

/** Counts the task-update handler emits (and the conflict-rate alarm reads). */
export const TASK_UPDATE_METRICS = {
  updates: 'TaskUpdates',
  merged: 'TaskUpdatesMerged',
  conflicts: 'TaskUpdateConflicts',
} as const;

/** What the outbox relay emits (and the outbox-lag alarm reads). */
export const OUTBOX_METRICS = {
  /** Largest age of the oldest unpublished outbox entry over each 10 s; 0 when the outbox stays empty. Alarm: > 5 s. */
  oldestUnpublishedAge: 'OutboxOldestUnpublishedAgeSeconds',
  published: 'OutboxEntriesPublished',
  publishFailures: 'OutboxPublishFailures',
  /** Relay rounds that failed (the database unreachable, say): no age is reported for such a window. */
  relayFailures: 'OutboxRelayFailures',
} as const;

/** Notifications a service refused for good (no such user, invalid address): recorded, never retried. */
export const DELIVERY_METRICS = { refused: 'NotificationsRefused' } as const;

/**
 * The integrations' circuit breakers (review C4), with a dimension `integration` (slack, sendgrid, github,
 * googleCalendar): `open` counts the calls refused because the breaker was open, and each time it opened.
 */
export const BREAKER_METRICS = { open: 'IntegrationBreakerOpen' } as const;

/** Quota alerting (review M4): an organization went past 80 % of a plan limit. */
export const QUOTA_METRICS = { thresholdCrossed: 'QuotaThresholdCrossed' } as const;

/**
 * The weekly restore test (review M9): how long AWS Backup took to restore the database (the measured RTO), how old
 * the recovery point was when the restore started (the measured RPO), and a restored database that failed the checks.
 */
/** The recovery targets, beating the review's (M9: RPO 1 h and RTO 4 h, never tested): the weekly restore test's alarms and `npm run drill` hold the measured RTO and RPO to them. */
export const RECOVERY_TARGETS = { rtoSeconds: 3_600, rpoSeconds: 300 } as const;

export const RESTORE_METRICS = {
  duration: 'RestoreDurationSeconds',
  recoveryPointAge: 'RecoveryPointAgeSeconds',
  validationFailed: 'RestoreValidationFailed',
} as const;

/**
 * Rate limits (review S1): requests refused with 429 (RATE_LIMITED, or QUOTA_EXCEEDED for the requests per
 * hour), and requests served without a limit check because DynamoDB failed (fail open).
 */
export const RATE_LIMIT_METRICS = { refused: 'RequestsRateLimited', failedOpen: 'RateLimitChecksFailedOpen' } as const;

/** What the feed probe emits on each run (functions/workers/feed-probe.ts). */
/** The scheduled synthetic transaction (review M7): 1 for a run that failed, 0 otherwise; how long a passing run took. */
export const SYNTHETIC_CANARY_METRICS = { failures: 'SyntheticTransactionFailures', durationMs: 'SyntheticTransactionMs' } as const;

/** Past this replica lag the weekly reports read the primary instead (the critical lag alarm's threshold too). */
export const REPORTS_MAX_REPLICA_LAG_SECONDS = 60;

/** The read replica's lag (review S4), measured by the replicaHeartbeat schedule. */
export const REPLICA_METRICS = {
  /** Seconds from the heartbeat's commit on the primary until the replica showed it (a lower bound past the wait). */
  lagSeconds: 'ReplicaLagSeconds',
} as const;

export const FEED_PROBE_METRICS = {
  /** From the change's commit to its frame on the probe's connection; only when the frame came. */
  deliveryMs: 'FeedProbeDeliveryMs',
  /** 1 for a run that failed (no token, no connection, no frame in time), 0 otherwise. */
  failures: 'FeedProbeFailures',
} as const;

/**
 * Trace sampling (review M2; docs/observability.md): the X-Ray sampling rules (lib/constructs/sampling-rules.ts) and the
 * functions' own decision (functions/shared/trace.ts) read these. Any request with the debug header, and the canary's
 * (its User-Agent starts with the prefix), is traced; about `ordinaryRate` of the others.
 */
export const TRACE_SAMPLING = {
  debugHeader: 'X-Debug-Trace',
  debugValue: '1',
  canaryUserAgentPrefix: 'TaskFlow-Canary',
  ordinaryRate: 0.1,
  /** X-Ray traces this many ordinary requests a second before the rate applies (so a quiet hour still has some). */
  ordinaryReservoirPerSecond: 1,
} as const;

/**
 * The SLIs (review M1; the SLOs in lib/app.ts are ratios of these). Every REST request and WebSocket message is
 * one sample of `latency` (milliseconds) and of `serverErrors` (1 for a 5xx, else 0), with a dimension `routeGroup`
 * (reads, mutations, feed): SampleCount is the requests, Sum the server errors, PR(:500) the share answered within
 * 500 ms. The delays are one sample per event delivered: commit → feed frame posted, event → notification sent.
 */
export const SLI_METRICS = {
  latency: 'RequestLatencyMs',
  serverErrors: 'RequestServerErrors',
  feedDelivery: 'FeedDeliveryMs',
  notificationDelivery: 'NotificationDeliveryMs',
} as const;

/** The dimension that tells the route groups' request SLIs apart. */
export const ROUTE_GROUP_DIMENSION = 'routeGroup';

/** The Node diagnostics channel every SLI sample is published on too: the local runtime counts them from there. */
export const SLI_CHANNEL = 'taskflow:sli';
