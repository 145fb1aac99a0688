import * as iam from 'aws-cdk-lib/aws-iam';
import { Stack } from 'aws-cdk-lib';
import { acknowledgeNag, nagReference } from '../constructs/nag';
import { type CapabilityModule, required } from './capability';

/**
 * Posts to and closes WebSocket connections through the `@connections` management API (WEBSOCKET_MANAGEMENT_URL),
 * with execute-api:ManageConnections on the stage's `@connections/*` only.
 */
export const websocket: CapabilityModule = {
  summary: 'Posts to and closes feed connections through the @connections API (WEBSOCKET_MANAGEMENT_URL); out of the VPC',
  network: 'internet',
  internetBecause: 'the WebSocket API\'s @connections endpoint is public, and no VPC endpoint serves it (no NAT either)',
  aws(platform) {
    const webSocket = required(platform.webSocket, 'websocket', 'the WebSocket settings');
    return {
      environment: { WEBSOCKET_MANAGEMENT_URL: webSocket.managementUrl },
      grant(fn) {
        const resources = [...webSocket.manageConnectionsArns];
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources }));
        acknowledgeNag(fn, {
          id: 'AwsSolutions-IAM5',
          reason:
            'Posting to and closing WebSocket connections: connection ids are per connection, so the resource is the stage\'s ' +
            '@connections/* for each method the worker uses (POST, GET, DELETE), on this API and stage only.',
          appliesTo: resources.map((arn) => `Resource::${nagReference(Stack.of(fn).resolve(arn))}`),
        });
      },
    };
  },
  local: ({ websocket }) => ({ WEBSOCKET_MANAGEMENT_URL: websocket.managementUrl }),
};
