import { App, type PolicyValidationPluginReport, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SYNTH_TIMEOUT_MS, type Synthesized, synthesizeTaskFlow } from './synth';

// cdk-nag 3 is a CDK policy-validation plugin (no longer an Aspect writing annotations): registered as in
// bin/cdk.ts, an unacknowledged error makes the synthesis itself throw (vitest sets NODE_ENV=test, so
// the app validates "in memory"). The findings are also read directly with validateScope.

let synthesized: Synthesized;
let report: PolicyValidationPluginReport;

const describeViolations = (r: PolicyValidationPluginReport) =>
  r.violations.map((v) => `${v.ruleName} (${v.severity}): ${v.violatingResources.map((x) => x.constructPath).join(', ')}`).join('\n');

let reports: PolicyValidationPluginReport[];

beforeAll(() => {
  // The suite's synthesis registers the AwsSolutions plugin as bin/cdk.ts does: it throws on an unacknowledged error.
  synthesized = synthesizeTaskFlow();
  reports = synthesized.stacks.stacks.map((stack) => new AwsSolutionsChecks().validateScope(stack));
  report = { ...reports[0]!, violations: reports.flatMap((each) => each.violations) };
}, SYNTH_TIMEOUT_MS);

describe('cdk-nag AwsSolutions', () => {
  it('synthesizes with the AwsSolutions plugin registered, as bin/cdk.ts does', () => {
    for (const stack of synthesized.stacks.stacks) expect(synthesized.assembly.getStackArtifact(stack.artifactId).template).toBeDefined();
  });

  it('reports no unacknowledged error', () => {
    const errors = { ...report, violations: report.violations.filter((v) => v.severity === 'error') };
    expect(errors.violations, describeViolations(errors)).toEqual([]);
  });

  it('leaves no error annotation on the stacks', () => {
    for (const stack of synthesized.stacks.stacks) {
      const annotations = Annotations.fromStack(stack);
      expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
      expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    }
    // Reading a stack's annotations synthesizes it again: as long as a synthesis (every function's alias, deployment
    // group and alarms) may take on a loaded machine.
  }, SYNTH_TIMEOUT_MS);

  it('acknowledges findings only with a specific reason', () => {
    const acknowledged: { path: string; id: string; reason: string }[] = [];
    const visit = (construct: IConstruct) => {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          // CDK acknowledges some of its own CloudFormation-Validate rules; only ours matter here.
          if (id.includes('AwsSolutions-')) acknowledged.push({ path: construct.node.path, id, reason });
        }
      }
      construct.node.children.forEach(visit);
    };
    for (const stack of synthesized.stacks.stacks) visit(stack);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { path, id, reason } of acknowledged) {
      expect(id, path).toMatch(/AwsSolutions-[A-Z]+\d+/);
      expect(reason.length, `${id} on ${path}`).toBeGreaterThan(40);
    }
    // Acknowledged at the narrowest construct that needs it, never for a whole stack or the app.
    expect(acknowledged.filter((a) => a.path === '' || synthesized.stacks.stacks.some((stack) => stack.node.path === a.path))).toEqual([]);
  });

  it('is not vacuous: the same checks flag a bucket without TLS enforcement or access logs', () => {
    const app = new App();
    const stack = new Stack(app, 'Control');
    new s3.Bucket(stack, 'Careless', { removalPolicy: RemovalPolicy.DESTROY });
    const control = new AwsSolutionsChecks().validateScope(stack);
    expect(control.violations.map((v) => v.ruleName)).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });
});
