import { Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';

/**
 * How TaskFlow's stacks hand values to each other (docs/architecture.md, "Stacks"): the stack that owns a resource
 * writes its identifier to an SSM parameter `/<app>/<owner>/<key>`, and a stack that needs it reads the parameter when
 * it deploys (a CloudFormation parameter of type AWS::SSM::Parameter::Value<String>), after the owner (a stack
 * dependency). Never a CloudFormation export: an export in use can neither change nor go, so a producer that stops
 * making a value fails to deploy until every importer has let go of it first (the "deadly embrace"). A parameter can
 * be rewritten or deleted at any time; its readers take the new value at their next deploy (the CDK CLI deploys a
 * stack that reads SSM parameters even when its template is unchanged).
 */
export class SharedValues {
  private readonly keys = new Set<string>();

  /** `owner` is the producing stack; `name` its short name in the parameters' names (`data` → `/TaskFlow/data/…`). */
  constructor(
    private readonly owner: Stack,
    private readonly app: string,
    private readonly name: string,
  ) {}

  /** The SSM parameter name of `key`. */
  parameterName(key: string): string {
    return `/${this.app}/${this.name}/${key}`;
  }

  /** Writes `value` (a token of the owner stack) for the stacks that deploy after it. */
  share(scope: Construct, key: string, value: string, description: string): void {
    if (Stack.of(scope) !== this.owner) throw new Error(`${this.parameterName(key)} is written by ${this.owner.stackName} only`);
    this.keys.add(key);
    new ssm.StringParameter(scope, `Shared-${this.name}-${key}`, {
      parameterName: this.parameterName(key),
      stringValue: value,
      description: `TaskFlow: ${description} (read by the stacks that deploy after ${this.owner.stackName})`,
    });
  }

  /** Reads `key` when the stack of `reader` deploys, which from now on deploys after the owner. */
  read(reader: Construct, key: string): string {
    if (!this.keys.has(key)) throw new Error(`${this.owner.stackName} shares no ${this.parameterName(key)} (shared: ${[...this.keys].join(', ')})`);
    const stack = Stack.of(reader);
    if (stack === this.owner) throw new Error(`${stack.stackName} reads its own ${key}: use the construct itself`);
    if (!stack.dependencies.includes(this.owner)) stack.addStackDependency(this.owner, `reads ${this.parameterName(key)}`);
    return ssm.StringParameter.valueForStringParameter(stack, this.parameterName(key));
  }
}
