import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { RouteDeclaration } from '../declaration';
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_ALLOW_ORIGIN, CORS_EXPOSE_HEADERS } from '../../functions/shared/cors';
import { acknowledgeNag } from './nag';
import { addProblemResponses } from './problem-responses';

export interface ApiProps {
  /** The API's name: CloudWatch's `ApiName` dimension of its metrics. */
  readonly name: string;
  readonly routes: readonly RouteDeclaration[];
  /** Each route's function (in the stack of its route group). */
  readonly functionOf: (route: RouteDeclaration) => lambda.IFunction;
  /** The JWT authorizer function (shared with the WebSocket API's `$connect`): here a TOKEN authorizer on Authorization. */
  readonly authorizerFunction: lambda.IFunction;
  /** @default REST_STAGE */
  readonly stageName?: string;
  /** @default one year */
  readonly accessLogRetention?: logs.RetentionDays;
}

/** The REST API's stage: its URL's path and the `Stage` dimension of its metrics. */
export const REST_STAGE = 'v1';


/** API Gateway's stage throttling: requests a second, steady and in a burst, for the whole API. */
export const STAGE_THROTTLING = { rateLimit: 500, burstLimit: 1_000 } as const;

/** One line of JSON per request (every value a string, `-` when API Gateway has none). */
const ACCESS_LOG_FORMAT = `{${[
  '"requestId":"$context.requestId"',
  '"extendedRequestId":"$context.extendedRequestId"',
  '"xrayTraceId":"$context.xrayTraceId"',
  '"requestTime":"$context.requestTime"',
  '"ip":"$context.identity.sourceIp"',
  '"httpMethod":"$context.httpMethod"',
  '"resourcePath":"$context.resourcePath"',
  '"path":"$context.path"',
  '"protocol":"$context.protocol"',
  '"status":"$context.status"',
  '"responseLength":"$context.responseLength"',
  '"responseLatency":"$context.responseLatency"',
  '"integrationLatency":"$context.integration.latency"',
  '"integrationStatus":"$context.integration.status"',
  '"authorizerLatency":"$context.authorizer.integrationLatency"',
  '"principalId":"$context.authorizer.principalId"',
  '"orgId":"$context.authorizer.orgId"',
  '"errorType":"$context.error.responseType"',
  '"error":"$context.error.message"',
].join(',')}}`;

/**
 * The REST API, built from the declared routes: a method per route integrating its function, the JWT (TOKEN)
 * authorizer on every `jwt` route, problem+json gateway errors, CORS preflight, and a `v1` stage with JSON access
 * logs, execution logs, metrics, X-Ray and throttling as the outer guard.
 */
export class Api extends Construct {
  readonly restApi: apigateway.RestApi;
  readonly stage: apigateway.Stage;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      restApiName: props.name,
      description: `${props.name} REST API`,
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // Execution logging needs the account-level CloudWatch role; the feature flag turns the default off.
      cloudWatchRole: true,
      deployOptions: {
        stageName: props.stageName ?? REST_STAGE,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // request and response bodies stay out of the logs
        metricsEnabled: true,
        tracingEnabled: true,
        // The outer guard (the handlers limit each user, organization and address, review S1): it bounds
        // the whole API to what the database (a t4g.medium behind RDS Proxy) can serve, whoever calls.
        // Well above one organization's limits — 1,000 a minute is 17 requests a second, and its full
        // bucket, 1,000 at once, fits the burst — so it never stops a tenant that stays within them; it
        // stops what the per-caller limits cannot, such as a flood from many addresses and accounts.
        throttlingRateLimit: STAGE_THROTTLING.rateLimit,
        throttlingBurstLimit: STAGE_THROTTLING.burstLimit,
      },
      defaultCorsPreflightOptions: {
        allowOrigins: [CORS_ALLOW_ORIGIN],
        allowMethods: CORS_ALLOW_METHODS,
        allowHeaders: CORS_ALLOW_HEADERS,
        exposeHeaders: CORS_EXPOSE_HEADERS,
        maxAge: Duration.hours(1),
      },
    });
    // A preflight for a path the API does not have: without it the gateway answers 404 (MISSING_AUTHENTICATION_TOKEN),
    // which fails the preflight, and the page sees a network error instead of the request's readable 404 problem.
    // Only OPTIONS (the default preflight, inherited): any other method here is that 404.
    this.restApi.root.addProxy({ anyMethod: false });
    this.stage = this.restApi.deploymentStage;
    // The stack outputs the URL itself (ApiUrl); drop the generated duplicate.
    this.restApi.node.tryRemoveChild('Endpoint');
    addProblemResponses(this.restApi);

    const authorizer = new apigateway.TokenAuthorizer(this, 'JwtAuthorizer', {
      handler: props.authorizerFunction,
      identitySource: apigateway.IdentitySource.header('Authorization'),
      resultsCacheTtl: Duration.minutes(5),
    });

    for (const route of props.routes) {
      const method = this.restApi.root.resourceForPath(route.path).addMethod(
        route.method,
        new apigateway.LambdaIntegration(props.functionOf(route), { allowTestInvoke: false }),
        {
          operationName: route.operationId,
          ...(route.auth === 'jwt'
            ? { authorizer, authorizationType: apigateway.AuthorizationType.CUSTOM }
            : { authorizationType: apigateway.AuthorizationType.NONE }),
        },
      );
      if (route.auth === 'none') {
        acknowledgeNag(
          method,
          {
            id: 'AwsSolutions-APIG4',
            reason: `${route.method} ${route.path} is declared public (auth: none in lib/app.ts): the health check, which returns no tenant data.`,
          },
          { id: 'AwsSolutions-COG4', reason: `${route.method} ${route.path} is declared public (auth: none in lib/app.ts): no authorizer at all.` },
        );
      } else {
        acknowledgeNag(method, {
          id: 'AwsSolutions-COG4',
          reason: 'Authorized by the Lambda TOKEN authorizer verifying Auth0 JWTs (RS256, issuer JWKS), not by Cognito.',
        });
      }
    }

    for (const method of this.restApi.methods.filter((m) => m.httpMethod === 'OPTIONS')) {
      acknowledgeNag(
        method,
        { id: 'AwsSolutions-APIG4', reason: 'CORS preflight (MOCK integration): browsers send OPTIONS without credentials.' },
        { id: 'AwsSolutions-COG4', reason: 'CORS preflight (MOCK integration): browsers send OPTIONS without credentials.' },
      );
    }

    acknowledgeNag(
      this.restApi,
      {
        id: 'AwsSolutions-APIG2',
        reason:
          'Bodies, query strings and headers are validated in the handlers against the zod schemas of lib/app.ts, ' +
          'so AWS and the local runtime answer the same problem+json with field-level errors; gateway models would ' +
          'answer first, with a different and less precise error.',
      },
      {
        id: 'AwsSolutions-APIG3',
        reason:
          'A WAF web ACL is left to the operator (cost, rules depend on the deployment); the handlers rate-limit each ' +
          `user, organization and client address, and stage throttling (${STAGE_THROTTLING.rateLimit} rps, burst ` +
          `${STAGE_THROTTLING.burstLimit}) is the outer guard meanwhile.`,
      },
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'The account-level API Gateway CloudWatch role uses AmazonAPIGatewayPushToCloudWatchLogs, the AWS-maintained ' +
          'policy for execution logging.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'],
      },
    );
  }

  get url(): string {
    return this.restApi.url;
  }
}
