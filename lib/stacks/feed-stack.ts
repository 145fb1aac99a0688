import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { taskflow } from '../app';
import type { DeploymentMode } from '../constructs/deployment-config';
import { routeGroupGates } from '../constructs/deployment-gates';
import { Deployments } from '../constructs/deployments';
import { WebSocketApi } from '../constructs/websocket-api';
import type { ApiStack } from './api-stack';
import type { DataStack } from './data-stack';
import { ImportedData } from './imported-data';
import { SharedValues } from './shared-values';

/**
 * The activity feed: the WebSocket API and its route functions, `$connect` authorized by the API stack's JWT
 * authorizer. It shares its URLs with the workers (the broadcast and fan-out workers post to its connections, the probe connects).
 */
export class FeedStack extends Stack {
  readonly webSocket: WebSocketApi;
  /** The route functions' live aliases and deployment groups. */
  readonly deployments: Deployments;
  readonly shared: SharedValues;

  constructor(scope: Construct, id: string, props: StackProps & { readonly data: DataStack; readonly api: ApiStack; readonly deployment: DeploymentMode }) {
    super(scope, id, { description: 'TaskFlow feed: the activity feed\'s WebSocket API and its functions', ...props });
    const data = new ImportedData(this, 'Data', props.data);
    this.deployments = new Deployments(this, 'FeedDeployments', { app: taskflow.name, mode: props.deployment });
    this.webSocket = new WebSocketApi(this, 'WebSocket', {
      name: taskflow.name,
      routes: taskflow.websocket.routes,
      authorizerFunction: lambda.Function.fromFunctionAttributes(this, 'Authorizer', {
        functionArn: props.api.shared.read(this, 'authorizer-arn'),
        sameEnvironment: true,
      }),
      platform: data,
      deployments: this.deployments,
      gates: routeGroupGates(taskflow.slos, 'feed'),
    });

    // WebSocket logging goes through the account's API Gateway CloudWatch role, which the REST API sets.
    this.addStackDependency(props.api, 'the account\'s API Gateway CloudWatch role, which the REST API sets');
    this.shared = new SharedValues(this, taskflow.name, 'feed');
    this.shared.share(this, 'url', this.webSocket.url, 'the activity feed\'s WebSocket URL');
    this.shared.share(this, 'management-url', this.webSocket.managementUrl, 'the activity feed\'s @connections management URL');
    this.shared.share(this, 'api-id', this.webSocket.api.apiId, 'the activity feed\'s WebSocket API');
    new CfnOutput(this, 'WebSocketUrl', {
      value: this.webSocket.url,
      description: 'URL of the activity feed (WebSocket, stage v1): connect with ?token=<JWT>&clientId=<id> (docs/feed.md)',
    });
    new CfnOutput(this, 'WebSocketManagementUrl', {
      value: this.webSocket.managementUrl,
      description: 'The feed\'s @connections management endpoint (post to or close a connection with SigV4)',
    });
  }
}
