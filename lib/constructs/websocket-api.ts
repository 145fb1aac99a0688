import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type Platform, platformWith, type WebSocketSettings } from '../capabilities/capability';
import { webSocketFunctionId, type WebSocketRouteDeclaration } from '../declaration';
import type { Deployments } from './deployments';
import { TaskFlowFunction } from './function';
import { acknowledgeNag } from './nag';

export interface WebSocketApiProps {
  readonly name: string;
  /** The declared routes (`taskflow.websocket.routes`). */
  readonly routes: readonly WebSocketRouteDeclaration[];
  /** The REST API's JWT authorizer function: here a REQUEST authorizer on `$connect`, with the token from the query string. */
  readonly authorizerFunction: lambda.IFunction;
  /** What the route functions need (the connections table; the database for the replay). */
  readonly platform: Platform;
  /** Where each route function's `live` alias and deployment group are made. */
  readonly deployments: Deployments;
  /** The SLOs whose fast-burn alarms roll a route function's deployment back. */
  readonly gates: readonly string[];
  /** @default v1 */
  readonly stageName?: string;
  /** @default one year */
  readonly accessLogRetention?: logs.RetentionDays;
}

/** The WebSocket API's stage: its URLs' path. */
export const WEBSOCKET_STAGE = 'v1';

/**
 * Messages a second, steady and in a burst, for each route of the stage: the outer guard, as on the REST API.
 * A client sends a ping every few minutes and a resume now and then, so this is far above what the feed's
 * clients send; it bounds a flood, chiefly of replays, which read the database.
 */
export const WEBSOCKET_STAGE_THROTTLING = { rateLimit: 500, burstLimit: 1_000 } as const;

/** execute-api ARNs of a stage's `@connections/*`: POST sends a frame, GET reads a connection's state, DELETE closes it. */
export function manageConnectionsArns(stack: Stack, apiId: string, stageName: string): string[] {
  return ['POST', 'GET', 'DELETE'].map((method) =>
    stack.formatArn({ service: 'execute-api', resource: apiId, resourceName: `${stageName}/${method}/@connections/*` }),
  );
}

/** One line of JSON per connection, message and disconnection (every value a string, `-` when API Gateway has none). */
const ACCESS_LOG_FORMAT = `{${[
  '"requestId":"$context.requestId"',
  '"extendedRequestId":"$context.extendedRequestId"',
  '"requestTime":"$context.requestTime"',
  '"ip":"$context.identity.sourceIp"',
  '"eventType":"$context.eventType"',
  '"routeKey":"$context.routeKey"',
  '"connectionId":"$context.connectionId"',
  '"messageId":"$context.messageId"',
  '"status":"$context.status"',
  '"integrationLatency":"$context.integrationLatency"',
  '"authorizerLatency":"$context.authorizer.integrationLatency"',
  '"principalId":"$context.authorizer.principalId"',
  '"orgId":"$context.authorizer.orgId"',
  '"error":"$context.error.message"',
].join(',')}}`;

/**
 * The activity feed's WebSocket API (docs/feed.md), built from the declared routes: one function per route,
 * messages routed on their `action`, the JWT checked once at `$connect` by the REST API's authorizer function
 * (the identity then comes with every message of the connection), a route response on the routes that answer,
 * and a `v1` stage, deployed on every change, with JSON access logs and throttling.
 */
export class WebSocketApi extends Construct {
  readonly api: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;
  /** Route functions by route key (`$connect`, `resume`...). */
  readonly routeFunctions: ReadonlyMap<string, TaskFlowFunction>;
  /** The stage's URLs and `@connections` ARNs, for the functions that post to connections or connect. */
  readonly settings: WebSocketSettings;

  constructor(scope: Construct, id: string, props: WebSocketApiProps) {
    super(scope, id);

    this.api = new apigwv2.WebSocketApi(this, 'Api', {
      apiName: `${props.name}-feed`,
      description: `${props.name} activity feed (WebSocket)`,
      routeSelectionExpression: '$request.body.action',
    });

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName ?? WEBSOCKET_STAGE,
      // Routes and integrations take effect without a deployment resource to replace on each change.
      autoDeploy: true,
      throttle: WEBSOCKET_STAGE_THROTTLING,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });

    this.settings = {
      url: this.stage.url,
      managementUrl: this.stage.callbackUrl,
      manageConnectionsArns: manageConnectionsArns(Stack.of(this), this.api.apiId, this.stage.stageName),
    };

    // Browsers cannot set headers on the handshake: the bearer token comes as ?token= (a missing one is a 401
    // before the function runs). API Gateway does not cache WebSocket authorizer results.
    const authorizer = new WebSocketLambdaAuthorizer('JwtAuthorizer', props.authorizerFunction, {
      identitySource: ['route.request.querystring.token'],
    });

    const routeFunctions = new Map<string, TaskFlowFunction>();
    for (const route of props.routes) {
      const fn = new TaskFlowFunction(this, webSocketFunctionId(route), {
        declaration: route.function,
        platform: platformWith(props.platform, { webSocket: this.settings }),
      });
      routeFunctions.set(route.route, fn);
      const { alias } = props.deployments.live(fn, { gates: props.gates });
      const added = this.api.addRoute(route.route, {
        integration: new WebSocketLambdaIntegration(`${webSocketFunctionId(route)}Integration`, alias),
        ...(route.route === '$connect' ? { authorizer } : {}),
        returnResponse: route.replies,
      });
      if (route.route !== '$connect') {
        acknowledgeNag(added, {
          id: 'AwsSolutions-APIG4',
          reason:
            `${route.route} has no authorizer of its own: API Gateway authorizes a WebSocket connection only at $connect ` +
            '(the JWT, by the Lambda authorizer), and every later message and the disconnection carry that identity.',
        });
      }
    }
    this.routeFunctions = routeFunctions;
  }

  /** `wss://…/v1`: where browsers connect. */
  get url(): string {
    return this.settings.url;
  }

  /** `https://…/v1`: the @connections management API. */
  get managementUrl(): string {
    return this.settings.managementUrl;
  }
}
