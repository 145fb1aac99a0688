// The third-party services TaskFlow calls, declared once: where each one is (the variable holding its base
// URL: the real API in AWS, a sandbox locally), the variable holding its credential, and how long a call may take
// (review C4). The HTTP layer (http.ts) and the circuit breakers (breaker.ts) serve every service named here; each
// is a capability (lib/capabilities/), a secret of the data stack, a breaker alarm and a local sandbox.

export interface Timeouts {
  connectMs: number;
  /** Longest silence on the socket once connected (sending, waiting for the answer, reading it). */
  readMs: number;
}

/** Every integration, in a stable order (status pages list them so); INTEGRATIONS below has exactly these keys. */
export const INTEGRATION_NAMES = ['slack', 'sendgrid', 'github', 'googleCalendar'] as const;
// A list of its own rather than INTEGRATIONS' keys: what only needs the names (every API function's
// X-Degraded-Integrations header) does not bundle the settings.
export type IntegrationName = (typeof INTEGRATION_NAMES)[number];

export type BaseUrlVariable = 'SLACK_API_URL' | 'SENDGRID_API_URL' | 'GITHUB_API_URL' | 'GOOGLE_CALENDAR_API_URL';

export interface IntegrationSettings {
  /** The variable holding the service's base URL (no trailing slash): paths are appended to it. */
  baseUrlVariable: BaseUrlVariable;
  /** The base URL in AWS: the real API. */
  baseUrl: string;
  /**
   * The variable holding the credential (a token, an API key, a service account's JSON key). In AWS it is not
   * set: `<it>_SECRET_ARN` names the secret that holds it (functions/shared/secrets.ts).
   */
  credentialVariable: string;
  /** What the credential is, as the secret holding it describes it. */
  credential: string;
  /** The secret's name in the data stack (its construct id, and its output's `<name>SecretArn`). */
  secretName: string;
  /** It sends from the deployment's verified address (NOTIFICATION_FROM_EMAIL, the NotificationFromEmail parameter). */
  sender?: true;
  timeouts: Timeouts;
  /** For logs, errors and status pages. */
  displayName: string;
}

/** Notifications must go out promptly or be retried later: 5 s to connect, 10 s of silence at most. */
const NOTIFICATION_TIMEOUTS: Timeouts = { connectMs: 5_000, readMs: 10_000 };
/** Synchronisation calls may page through large answers: 10 s to connect, 30 s of silence at most. */
const SYNC_TIMEOUTS: Timeouts = { connectMs: 10_000, readMs: 30_000 };

export const INTEGRATIONS: Readonly<Record<IntegrationName, IntegrationSettings>> = {
  slack: {
    baseUrlVariable: 'SLACK_API_URL',
    baseUrl: 'https://slack.com/api',
    credentialVariable: 'SLACK_BOT_TOKEN',
    secretName: 'SlackBotToken',
    credential: 'the Slack bot token (xoxb-…) as the plain SecretString',
    timeouts: NOTIFICATION_TIMEOUTS,
    displayName: 'Slack',
  },
  sendgrid: {
    baseUrlVariable: 'SENDGRID_API_URL',
    baseUrl: 'https://api.sendgrid.com',
    credentialVariable: 'SENDGRID_API_KEY',
    secretName: 'SendGridApiKey',
    sender: true,
    credential: 'the SendGrid API key (mail send permission) as the plain SecretString',
    timeouts: NOTIFICATION_TIMEOUTS,
    displayName: 'SendGrid',
  },
  github: {
    baseUrlVariable: 'GITHUB_API_URL',
    baseUrl: 'https://api.github.com',
    credentialVariable: 'GITHUB_TOKEN',
    secretName: 'GitHubToken',
    credential:
      'a GitHub token with read access to the issues of the repositories projects link to (a fine-grained personal access ' +
      'token or a GitHub App token) as the plain SecretString',
    timeouts: SYNC_TIMEOUTS,
    displayName: 'GitHub',
  },
  googleCalendar: {
    baseUrlVariable: 'GOOGLE_CALENDAR_API_URL',
    baseUrl: 'https://www.googleapis.com/calendar/v3',
    credentialVariable: 'GOOGLE_CALENDAR_CREDENTIALS',
    secretName: 'GoogleCalendarCredentials',
    credential:
      'a Google service account\'s JSON key (client_email, private_key) as the SecretString; share each linked calendar with ' +
      'the service account ("make changes to events")',
    timeouts: SYNC_TIMEOUTS,
    displayName: 'Google Calendar',
  },
};
