import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECONDS, type FunctionDeclaration } from '../declaration';
import type { Platform } from '../capabilities/capability';
import { awsProvisions } from '../capabilities/combine';
import { FUNCTION_ENVIRONMENT } from '../capabilities/function-environment';
import { acknowledgeNag } from './nag';

/** The repository root: handler entries in the declaration are relative to it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `pg` is CommonJS (and requires Node built-ins): give the ESM bundle a `require`. */
const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export interface TaskFlowFunctionProps {
  /** What to run and what it needs (an entry of `lib/app.ts`). */
  readonly declaration: FunctionDeclaration;
  /** What the stack offers its capabilities. */
  readonly platform: Platform;
  /** Bundling hooks (the migrate function copies its SQL files beside the bundle). */
  readonly commandHooks?: ICommandHooks;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A handler from the declaration as a Lambda function with TaskFlow's defaults: Node.js 22 on arm64, an ESM bundle
 * built by the local esbuild (minified, source maps, AWS SDK v3 bundled), its own log group with retention, X-Ray
 * active tracing, Powertools settings; and what its `needs` and `sendsTo` give it, each capability as its module in
 * lib/capabilities/ says (variables, placement, grants), from the platform of the stack it is in.
 */
export class TaskFlowFunction extends NodejsFunction {
  readonly declaration: FunctionDeclaration;

  constructor(scope: Construct, id: string, props: TaskFlowFunctionProps) {
    const { declaration } = props;
    const provisions = awsProvisions(declaration, props.platform);
    const placement = provisions.find((provision) => provision.placement)?.placement;
    const paramsAndSecrets = provisions.find((provision) => provision.paramsAndSecrets)?.paramsAndSecrets;
    super(scope, id, {
      entry: path.join(PROJECT_ROOT, declaration.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: declaration.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: declaration.memoryMb ?? DEFAULT_MEMORY_MB,
      timeout: Duration.seconds(declaration.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
      tracing: lambda.Tracing.ACTIVE,
      // A published version is kept when a newer one replaces it: the previous version is what a rollback returns
      // to (docs/runbooks/rollback.md), for the hour the review asks and beyond.
      currentVersionOptions: { removalPolicy: RemovalPolicy.RETAIN },
      logGroup: new logs.LogGroup(scope, `${id}LogGroup`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.RETAIN,
      }),
      environment: Object.assign({ ...FUNCTION_ENVIRONMENT }, ...provisions.map((provision) => provision.environment ?? {})),
      ...(placement ?? {}),
      ...(paramsAndSecrets ? { paramsAndSecrets } : {}),
      bundling: {
        format: OutputFormat.ESM,
        minify: true,
        sourceMap: true,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // pg's optional native binding, and pgpass, which pg loads only for a connection without a password
        // (ours always have one: an IAM token, or the migrate function's secret), stay out; the AWS SDK v3
        // is bundled (pinned, tree-shaken).
        externalModules: ['pg-native', 'pgpass'],
        forceDockerBundling: false,
        ...(props.commandHooks ? { commandHooks: props.commandHooks } : {}),
      },
    });
    this.declaration = declaration;
    for (const provision of provisions) provision.grant?.(this);

    acknowledgeNag(
      this,
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'AWSLambdaBasicExecutionRole (write to its own log group) and, for functions in the VPC, ' +
          'AWSLambdaVPCAccessExecutionRole (manage its ENIs) are the AWS-maintained minimum for a Lambda function.',
        appliesTo: [
          'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
          ...(placement ? ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole'] : []),
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, ' +
          'so CDK grants them on "*".',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-L1',
        reason:
          'The runtime is pinned to nodejs22.x by design (docs/architecture.md): the bundles target node22, and moving to a newer ' +
          'runtime is a deliberate change made together with the esbuild target and the Node.js version used locally.',
      },
    );
  }
}
