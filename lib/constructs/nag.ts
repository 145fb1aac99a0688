import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface NagAcknowledgment {
  /** Rule id, e.g. `AwsSolutions-IAM4`. */
  readonly id: string;
  /** Why the finding is acceptable here: specific to this resource. */
  readonly reason: string;
  /** Only these findings of a granular rule (`Policy::…`, `Resource::…`); absent: the whole rule. */
  readonly appliesTo?: readonly string[];
}

/**
 * Acknowledges cdk-nag findings on a construct and everything under it (cdk-nag 3 reads CDK's
 * `Validations.acknowledge` metadata on the resource and its ancestors).
 */
export function acknowledgeNag(scope: IConstruct, ...acknowledgments: NagAcknowledgment[]): void {
  const validations = Validations.of(scope);
  for (const { id, reason, appliesTo } of acknowledgments) {
    if (!appliesTo) {
      validations.acknowledge({ id, reason });
      continue;
    }
    for (const finding of appliesTo) validations.acknowledge({ id: `${id}[${finding}]`, reason });
  }
}

/**
 * A resolved value as cdk-nag writes it in a finding (`Resource::…`): `{Ref: X}` is `<X>`, `{Fn::GetAtt: [X, A]}`
 * is `<X.A>`, joins are flattened. Acknowledgments name the exact resource, not a pattern.
 */
export function nagReference(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: [string, string]; Ref?: string };
  if (node['Fn::Join']) return node['Fn::Join'][1].map(nagReference).join(node['Fn::Join'][0]);
  if (node['Fn::GetAtt']) return `<${node['Fn::GetAtt'][0]}.${node['Fn::GetAtt'][1]}>`;
  if (node.Ref) return `<${node.Ref}>`;
  throw new Error(`Cannot name ${JSON.stringify(value)} as cdk-nag does`);
}
