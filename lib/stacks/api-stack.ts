import { Aws, CfnCondition, CfnOutput, CfnParameter, Fn, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { taskflow } from '../app';
import { Api } from '../constructs/api';
import type { DeploymentMode } from '../constructs/deployment-config';
import { allRouteGroupsGates } from '../constructs/deployment-gates';
import { Deployments } from '../constructs/deployments';
import { TaskFlowFunction } from '../constructs/function';
import type { RouteDeclaration } from '../declaration';
import type { RoutesStack } from './routes-stack';
import { SharedValues } from './shared-values';

export interface ApiStackProps extends StackProps {
  /** The stacks holding the route functions, each route in one of them. */
  readonly routeGroups: readonly RoutesStack[];
  /** How CodeDeploy moves the authorizer's `live` alias to a new version. */
  readonly deployment: DeploymentMode;
}

/**
 * The REST API: API Gateway (a method per declared route, integrating the function its route group's stack shares),
 * and the JWT authorizer function, which the WebSocket API's `$connect` uses too. Whose tokens it accepts are this
 * stack's parameters.
 */
export class ApiStack extends Stack {
  readonly api: Api;
  readonly authorizerFunction: TaskFlowFunction;
  /** The authorizer's live alias and deployment group. */
  readonly deployments: Deployments;
  readonly shared: SharedValues;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, { description: 'TaskFlow API: the REST API (API Gateway) and the JWT authorizer', ...props });

    const issuer = new CfnParameter(this, 'AuthIssuer', {
      type: 'String',
      description: 'Issuer (iss) of the bearer JWTs, e.g. https://your-tenant.auth0.com/',
      allowedPattern: '^https://\\S+$',
      constraintDescription: 'an https:// URL',
    });
    const audience = new CfnParameter(this, 'AuthAudience', {
      type: 'String',
      description: 'Audience (aud) the bearer JWTs must carry: the Auth0 API identifier',
      minLength: 1,
    });
    const jwksUrl = new CfnParameter(this, 'AuthJwksUrl', {
      type: 'String',
      default: '',
      description: 'JWKS URL of the issuer; empty: <issuer>/.well-known/jwks.json',
      allowedPattern: '^(https://\\S+)?$',
      constraintDescription: 'empty, or an https:// URL',
    });
    const roleClaim = new CfnParameter(this, 'AuthRoleClaim', {
      type: 'String',
      default: 'role',
      description: 'Claim that holds the caller\'s role (admin or member); with Auth0, a namespaced claim such as https://taskflow.example/role',
      minLength: 1,
    });
    const hasJwksUrl = new CfnCondition(this, 'HasAuthJwksUrl', {
      expression: Fn.conditionNot(Fn.conditionEquals(jwksUrl.valueAsString, '')),
    });

    // One JWT authorizer function for both APIs. Not in the VPC: it fetches the issuer's JWKS from the internet.
    this.authorizerFunction = new TaskFlowFunction(this, 'Authorizer', {
      declaration: taskflow.functions.authorizer,
      platform: {
        auth: {
          issuer: issuer.valueAsString,
          audience: audience.valueAsString,
          // Unset (AWS::NoValue) when the parameter is empty: the authorizer derives it from the issuer.
          jwksUrl: Token.asString(Fn.conditionIf(hasJwksUrl.logicalId, jwksUrl.valueAsString, Aws.NO_VALUE)),
          roleClaim: roleClaim.valueAsString,
        },
      },
    });

    // Gated by availability, which every route group counts: a bad authorizer fails them all.
    this.deployments = new Deployments(this, 'ApiDeployments', { app: taskflow.name, mode: props.deployment });
    const authorizer = this.deployments.live(this.authorizerFunction, { gates: allRouteGroupsGates(taskflow.slos) }).alias;

    const groupOf = new Map<string, RoutesStack>();
    for (const group of props.routeGroups) for (const operationId of group.routeFunctions.keys()) groupOf.set(operationId, group);
    const functionOf = (route: RouteDeclaration) => {
      const group = groupOf.get(route.operationId);
      if (!group) throw new Error(`${route.method} ${route.path} (${route.operationId}) has no function in any route group`);
      return lambda.Function.fromFunctionAttributes(this, `${route.operationId}Function`, {
        functionArn: group.shared.read(this, `${route.operationId}-arn`),
        sameEnvironment: true,
      });
    };
    this.api = new Api(this, 'Api', { name: taskflow.name, routes: taskflow.routes, functionOf, authorizerFunction: authorizer });

    this.shared = new SharedValues(this, taskflow.name, 'api');
    this.shared.share(this, 'url', this.api.url, 'the REST API\'s base URL');
    this.shared.share(this, 'authorizer-arn', authorizer.functionArn, 'the live alias of the JWT authorizer function');
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the REST API (stage v1)' });
  }
}
