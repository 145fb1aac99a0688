// The third-party services TaskFlow calls, declared once: where each one is (the variable holding its base
// URL: the real API in AWS, a sandbox locally) and how long a call may take (review C4). The HTTP layer
// (http.ts) and the circuit breakers (breaker.ts) serve every service named here.

export interface Timeouts {
  connectMs: number;
  /** Longest silence on the socket once connected (sending, waiting for the answer, reading it). */
  readMs: number;
}

export type IntegrationName = 'slack' | 'sendgrid' | 'github' | 'googleCalendar';

export type BaseUrlVariable = 'SLACK_API_URL' | 'SENDGRID_API_URL' | 'GITHUB_API_URL' | 'GOOGLE_CALENDAR_API_URL';

export interface IntegrationSettings {
  /** The variable holding the service's base URL (no trailing slash): paths are appended to it. */
  baseUrlVariable: BaseUrlVariable;
  timeouts: Timeouts;
  /** For logs, errors and status pages. */
  displayName: string;
}

/** Notifications must go out promptly or be retried later: 5 s to connect, 10 s of silence at most. */
const NOTIFICATION_TIMEOUTS: Timeouts = { connectMs: 5_000, readMs: 10_000 };
/** Synchronisation calls may page through large answers: 10 s to connect, 30 s of silence at most. */
const SYNC_TIMEOUTS: Timeouts = { connectMs: 10_000, readMs: 30_000 };

export const INTEGRATIONS: Readonly<Record<IntegrationName, IntegrationSettings>> = {
  slack: { baseUrlVariable: 'SLACK_API_URL', timeouts: NOTIFICATION_TIMEOUTS, displayName: 'Slack' },
  sendgrid: { baseUrlVariable: 'SENDGRID_API_URL', timeouts: NOTIFICATION_TIMEOUTS, displayName: 'SendGrid' },
  github: { baseUrlVariable: 'GITHUB_API_URL', timeouts: SYNC_TIMEOUTS, displayName: 'GitHub' },
  googleCalendar: { baseUrlVariable: 'GOOGLE_CALENDAR_API_URL', timeouts: SYNC_TIMEOUTS, displayName: 'Google Calendar' },
};

/** Every integration, in a stable order (status pages list them so). */
export const INTEGRATION_NAMES = Object.keys(INTEGRATIONS) as IntegrationName[];
