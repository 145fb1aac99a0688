import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { INTEGRATIONS, INTEGRATION_NAMES, type IntegrationName } from '../../functions/integrations/services';
import { type CapabilityModule, required } from './capability';

/**
 * The Parameters and Secrets extension for third-party credentials, caching each for 5 minutes: a warm function does
 * not call Secrets Manager per message, and the extension sees a replaced value within 5 minutes.
 */
export const cachedSecretsExtension = () =>
  lambda.ParamsAndSecretsLayerVersion.fromVersion(lambda.ParamsAndSecretsVersions.V1_0_103, {
    cacheEnabled: true,
    secretsManagerTtl: Duration.seconds(300),
    secretsManagerTimeout: Duration.seconds(5),
  });

/**
 * A third-party service of functions/integrations/services.ts: its API's base URL, and the ARN of the secret holding
 * its credential (read through the extension, cached 5 minutes); locally the sandbox's URL and the credential itself.
 * Out of the VPC, which has no route to the internet.
 */
function thirdPartyService(name: IntegrationName): CapabilityModule {
  const service = INTEGRATIONS[name];
  const sender = service.sender === true;
  return {
    summary: `${service.displayName}'s API (${service.baseUrlVariable}, ${service.credentialVariable}); out of the VPC`,
    network: 'internet',
    internetBecause: `${service.displayName}'s API is on the internet, and the VPC has no route to the internet (no NAT)`,
    settings: ['INTEGRATION_TIMEOUT_SCALE'],
    aws(platform) {
      const secret = required(platform.credentials, name, 'the integration settings')[name];
      return {
        paramsAndSecrets: cachedSecretsExtension(),
        environment: {
          [service.baseUrlVariable]: service.baseUrl,
          [`${service.credentialVariable}_SECRET_ARN`]: secret.secretArn,
          ...(sender ? { NOTIFICATION_FROM_EMAIL: required(platform.notificationFromEmail, name, 'the integration settings') } : {}),
        },
        grant: (fn) => secret.grantRead(fn),
      };
    },
    local: ({ sandboxes }) => ({
      [service.baseUrlVariable]: sandboxes.urls[name],
      [service.credentialVariable]: sandboxes.credentials[name],
      ...(sender ? { NOTIFICATION_FROM_EMAIL: sandboxes.notificationFromEmail } : {}),
    }),
  };
}

/** One capability per service TaskFlow calls, named as the service: adding a service to the catalog adds its capability. */
export const thirdPartyServices = Object.fromEntries(INTEGRATION_NAMES.map((name) => [name, thirdPartyService(name)])) as Record<IntegrationName, CapabilityModule>;
