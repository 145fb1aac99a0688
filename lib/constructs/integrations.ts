import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { IntegrationSettings } from './function';
import { acknowledgeNag } from './nag';

export interface IntegrationsProps {
  /** The From address of notification e-mails (the NotificationFromEmail parameter). */
  readonly notificationFromEmail: string;
}

/**
 * The third-party credentials of the notification and sync workers and of the feed probe, as Secrets Manager secrets
 * the stack creates with a random placeholder value: after the first deploy the operator stores the real Slack
 * bot token, SendGrid API key, GitHub token and Google service account key in them (README). Until then, sends fail
 * (401) and the messages end in the dead-letter queues, from which they can be redriven; sync runs end failed; the probe fails, and its alarm
 * says so, until its client credentials are stored.
 */
export class Integrations extends Construct implements IntegrationSettings {
  readonly slackBotToken: secretsmanager.Secret;
  readonly sendgridApiKey: secretsmanager.Secret;
  readonly feedProbeCredentials: secretsmanager.Secret;
  readonly githubToken: secretsmanager.Secret;
  readonly googleCalendarCredentials: secretsmanager.Secret;
  readonly notificationFromEmail: string;

  constructor(scope: Construct, id: string, props: IntegrationsProps) {
    super(scope, id);
    this.notificationFromEmail = props.notificationFromEmail;

    this.slackBotToken = new secretsmanager.Secret(this, 'SlackBotToken', {
      description: 'TaskFlow: the Slack bot token (xoxb-…) as the plain SecretString; set it after the first deploy',
    });
    this.sendgridApiKey = new secretsmanager.Secret(this, 'SendGridApiKey', {
      description: 'TaskFlow: the SendGrid API key (mail send permission) as the plain SecretString; set it after the first deploy',
    });
    this.feedProbeCredentials = new secretsmanager.Secret(this, 'FeedProbeCredentials', {
      description:
        'TaskFlow: the feed probe\'s OAuth client credentials, JSON {"tokenUrl","clientId","clientSecret","audience"} of an ' +
        'Auth0 machine-to-machine application whose tokens carry the probe organization; set it after the first deploy',
    });

    this.githubToken = new secretsmanager.Secret(this, 'GitHubToken', {
      description:
        'TaskFlow: a GitHub token with read access to the issues of the repositories projects link to (a fine-grained ' +
        'personal access token or a GitHub App token) as the plain SecretString; set it after the first deploy',
    });
    this.googleCalendarCredentials = new secretsmanager.Secret(this, 'GoogleCalendarCredentials', {
      description:
        'TaskFlow: a Google service account\'s JSON key (client_email, private_key) as the SecretString; share each linked ' +
        'calendar with the service account ("make changes to events"); set it after the first deploy',
    });

    for (const [secret, issuer] of [
      [this.slackBotToken, 'Slack (a bot token is reissued in the Slack app settings)'],
      [this.sendgridApiKey, 'SendGrid (a new API key is created in the SendGrid console)'],
      [this.feedProbeCredentials, 'Auth0 (the machine-to-machine application\'s client secret is rotated in the Auth0 dashboard)'],
      [this.githubToken, 'GitHub (a new token is created in the GitHub settings)'],
      [this.googleCalendarCredentials, 'Google Cloud (a new service account key is created in the IAM console)'],
    ] as const) {
      acknowledgeNag(secret, {
        id: 'AwsSolutions-SMG4',
        reason:
          `A third-party credential issued by ${issuer}: Secrets Manager has no way to rotate it; the operator rotates ` +
          'it at the issuer and stores the new value in this secret (README).',
      });
    }
  }
}
