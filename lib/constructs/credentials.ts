import { RemovalPolicy } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { INTEGRATIONS, INTEGRATION_NAMES, type IntegrationName } from '../../functions/integrations/services';
import type { Credentials as CredentialSecrets } from '../capabilities/capability';
import { acknowledgeNag } from './nag';

/**
 * The third-party credentials of the notification and sync workers (one per service of functions/integrations/services.ts)
 * and of the feed probe, as Secrets Manager secrets created with a random placeholder value: after the first deploy the
 * operator stores the real ones (README). Until then, sends fail (401) and their messages end in the dead-letter queues,
 * from which they can be redriven; sync runs end failed; the probe fails, and its alarm says so.
 */
export class Credentials extends Construct {
  readonly secrets: CredentialSecrets;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const secret = (id: string, description: string, issuer: string) => {
      const created = new secretsmanager.Secret(this, id, { description: `TaskFlow: ${description}; set it after the first deploy` });
      // It holds what only the operator knows: deleting the stack leaves it.
      created.applyRemovalPolicy(RemovalPolicy.RETAIN);
      acknowledgeNag(created, {
        id: 'AwsSolutions-SMG4',
        reason:
          `A third-party credential issued by ${issuer}: Secrets Manager has no way to rotate it; the operator rotates ` +
          'it at the issuer and stores the new value in this secret (README).',
      });
      return created;
    };
    this.secrets = {
      ...(Object.fromEntries(
        INTEGRATION_NAMES.map((name) => [name, secret(INTEGRATIONS[name].secretName, INTEGRATIONS[name].credential, INTEGRATIONS[name].displayName)]),
      ) as Record<IntegrationName, secretsmanager.Secret>),
      feedProbe: secret(
        FEED_PROBE_SECRET,
        'the feed probe\'s OAuth client credentials, JSON {"tokenUrl","clientId","clientSecret","audience"} of an ' +
          'Auth0 machine-to-machine application whose tokens carry the probe organization',
        'Auth0 (the machine-to-machine application\'s client secret is rotated in the Auth0 dashboard)',
      ),
    };
  }
}

/** The feed probe's secret's name (its construct id, and its output's `<name>SecretArn`). */
export const FEED_PROBE_SECRET = 'FeedProbeCredentials';
