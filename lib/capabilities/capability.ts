import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IntegrationName } from '../../functions/integrations/services';

// A capability is what a function needs from its surroundings (`needs` in lib/app.ts). Each one is a module in
// this folder that says everything about it: its variables and grants in AWS, where in the network it puts the
// function, and what the local runtime gives the function for it. Nothing else names a capability's variables.

/** The declared tables (lib/app.ts `tables`). */
export type TableName = 'idempotency' | 'rateLimits' | 'integrations' | 'connections';

/** What a function in the database's VPC gets from the data stack: the proxy for the API, the instance for migrations. */
export interface DatabaseAccess {
  readonly vpc: ec2.IVpc;
  /** Where database clients (Lambda functions) run. */
  readonly clientSubnets: ec2.SubnetSelection;
  /** Functions in this group may connect to the proxy (and to the SQS endpoint). */
  readonly proxyClients: ec2.ISecurityGroup;
  /** Functions in this group may connect to the instance directly (the migrate function). */
  readonly adminClients: ec2.ISecurityGroup;
  readonly proxyEndpoint: string;
  /** IAM authentication to the proxy as `user`. */
  grantProxyConnect(grantee: iam.IGrantable, user: string): void;
  readonly instanceEndpointAddress: string;
  readonly instanceEndpointPort: string;
  /** Master credentials (the migrate function only). */
  readonly masterSecret: secretsmanager.ISecret;
  /** `taskflow_app` credentials: the migrate function sets the role's password from them. */
  readonly appSecret: secretsmanager.ISecret;
  /** The read replica, where the deployment has one. */
  readonly readReplica?: {
    readonly endpointAddress: string;
    grantConnect(grantee: iam.IGrantable, user: string): void;
  };
}

/** The declared queues, for the functions that send to them or watch them. */
export interface OutboxQueues {
  /** The declared queues by name (not their dead-letter queues). */
  readonly queues: Readonly<Record<string, sqs.IQueue>>;
  /** Their dead-letter queues by the same names. */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  /** Event type → names of the queues it goes to: OUTBOX_ROUTES. */
  readonly routes: Readonly<Record<string, readonly string[]>>;
  /** Queue name → the integration its consumer calls. */
  readonly integrations: Readonly<Record<string, string>>;
}

/** The third-party credentials (Secrets Manager secrets the data stack creates and the operator fills in). */
export type Credentials = Readonly<Record<IntegrationName, secretsmanager.ISecret>> & {
  /** The feed probe's OAuth client credentials, JSON `{"tokenUrl","clientId","clientSecret","audience"}`. */
  readonly feedProbe: secretsmanager.ISecret;
};

/** The WebSocket API's stage. */
export interface WebSocketSettings {
  /** `wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: where clients connect. */
  readonly url: string;
  /** `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: the @connections management API. */
  readonly managementUrl: string;
  /** execute-api ARNs of the stage's `@connections/*` (POST, GET and DELETE): what posting to and closing connections needs. */
  readonly manageConnectionsArns: readonly string[];
}

/** Whose bearer JWTs the authorizer accepts (the API stack's parameters). */
export interface AuthConfig {
  /** Token issuer (`iss`), e.g. https://tenant.auth0.com/ */
  readonly issuer: string;
  /** Expected audience (`aud`). */
  readonly audience: string;
  /** JWKS URL; undefined (or a token resolving to AWS::NoValue): derived from the issuer by the authorizer. */
  readonly jwksUrl?: string;
  /** Claim holding the caller's role (`admin` or not); Auth0 custom claims are namespaced URLs. */
  readonly roleClaim: string;
}

/**
 * What a stack offers the functions it holds: in the data stack the constructs themselves, elsewhere their
 * identifiers read from SSM parameters (lib/stacks/shared-values.ts). A capability takes only what it needs and
 * refuses, naming it, what is missing.
 */
export interface Platform {
  readonly database?: DatabaseAccess;
  readonly tables?: Readonly<Partial<Record<TableName, dynamodb.ITable>>>;
  readonly filesBucket?: s3.IBucket;
  readonly credentials?: Credentials;
  /** The From address of notification e-mails (a verified SendGrid sender). */
  readonly notificationFromEmail?: string;
  readonly queues?: OutboxQueues;
  readonly webSocket?: WebSocketSettings;
  /** The REST API's base URL. */
  readonly apiUrl?: string;
  readonly auth?: AuthConfig;
  /** The functions the synthetic transaction calls: operationId → the SSM parameter holding its `live` alias ARN. */
  readonly syntheticFunctions?: Readonly<Record<string, string>>;
}

/** `platform` with `extra` on top, reading nothing of `platform` until asked (its parts may be imported on first use). */
export function platformWith(platform: Platform, extra: Partial<Platform>): Platform {
  return new Proxy(platform, { get: (target, key) => (Object.hasOwn(extra, key) ? extra[key as keyof Platform] : Reflect.get(target, key)) });
}

/** Where a capability puts its function: in the VPC, to reach the database, or outside it, to reach the internet. */
export type NetworkPlacement = 'vpc' | 'internet';

/** What a capability gives a function in AWS. */
export interface AwsProvision {
  readonly environment?: Record<string, string>;
  readonly placement?: { vpc: ec2.IVpc; vpcSubnets: ec2.SubnetSelection; securityGroups: ec2.ISecurityGroup[] };
  /** The AWS Parameters and Secrets Lambda Extension, to read a secret without an SDK client in the bundle. */
  readonly paramsAndSecrets?: lambda.ParamsAndSecretsLayerVersion;
  /** IAM grants (and the cdk-nag acknowledgments they need) once the function exists. */
  grant?(fn: lambda.Function): void;
}

/** What the local runtime runs (lib/local/runtime.ts): each capability takes the addresses it needs. */
export interface LocalServices {
  database: { url: string; readUrl?: string };
  dynamodb: { endpoint: string; tableName(name: TableName): string; callTimeoutMs: string };
  sqs: {
    endpoint: string;
    queueUrl(name: string, deadLetter?: boolean): string;
    /** The declared queues' outbox routes and integrations, as in AWS (OutboxQueues). */
    routes: Readonly<Record<string, readonly string[]>>;
    integrations: Readonly<Record<string, string>>;
    names: readonly string[];
  };
  s3: { endpoint: string; bucket: string };
  sandboxes: { urls: Readonly<Record<IntegrationName, string>>; credentials: Readonly<Record<IntegrationName, string>>; notificationFromEmail: string };
  websocket: { url: string; managementUrl: string };
  api: { url: string };
  /** Lambda's Invoke API for the route functions (by their construct ids), on the REST API's port. */
  lambda: { endpoint: string };
  auth: { issuer: string; audience: string; jwksUrl: string };
  /** The feed probe's client credentials at the local issuer, as the secret's JSON. */
  feedProbeCredentials: string;
}

export interface CapabilityModule {
  /** What it gives a function, in a sentence. */
  readonly summary: string;
  /** Where it puts the function; none: anywhere. */
  readonly network?: NetworkPlacement;
  /** Why an `internet` capability cannot run in the VPC (the refusal of a function that also needs the database says it). */
  readonly internetBecause?: string;
  /** Capabilities a function must have along with this one. */
  readonly requires?: readonly string[];
  /**
   * Optional variables a deployment may set to tune what this capability serves (timeouts, limits). Locally
   * they are passed on from the runtime's own environment when set; in AWS they are unset (the code's defaults).
   */
  readonly settings?: readonly string[];
  /** Its environment, placement and grants in AWS (`needs`: all the function's capabilities); throws when the platform lacks what it needs. */
  aws(platform: Platform, needs: ReadonlySet<string>): AwsProvision;
  /** Its environment on the local runtime. */
  local(services: LocalServices): Record<string, string>;
}

/** `what` from the platform, or a refusal that names it. */
export function required<T>(what: T | undefined, capability: string, missing: string): T {
  if (what === undefined) throw new Error(`A function that needs ${capability} requires ${missing}`);
  return what;
}
