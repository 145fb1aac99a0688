import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { overBudget, STACK_BUDGET, stackSizes } from '../../lib/stacks/budget';
import { SharedValues } from '../../lib/stacks/shared-values';
import type { TaskFlow } from '../../lib/stacks/taskflow';
import { SYNTH_TIMEOUT_MS, type Synthesized, synthesizeTaskFlow } from './synth';

// The deployment as stacks by lifecycle: each inside its budget, handing values on without exports, in an order
// that migrates the schema before any function takes new code, and a data stack that code deploys never touch.

let synthesized: Synthesized;
let stacks: TaskFlow;

beforeAll(() => {
  synthesized = synthesizeTaskFlow();
  ({ stacks } = synthesized);
}, SYNTH_TIMEOUT_MS);

type TemplateJson = {
  Parameters?: Record<string, { Type: string; Default?: string }>;
  Resources: Record<string, { Type: string; Properties: Record<string, any>; DeletionPolicy?: string }>;
  Outputs?: Record<string, { Export?: unknown }>;
};
const templateOf = (stack: Stack) => synthesized.assembly.getStackArtifact(stack.artifactId).template as TemplateJson;
const dependsOn = (stack: Stack, on: Stack): boolean => stack.dependencies.some((direct) => direct === on || dependsOn(direct, on));

describe('resource budget', () => {
  it(`keeps every stack under ${STACK_BUDGET.resources} resources and ${STACK_BUDGET.templateKb} KB of template`, () => {
    const sizes = stackSizes(synthesized.assembly);
    expect(sizes.map((size) => size.name).sort()).toEqual(stacks.stacks.map((stack) => stack.stackName).sort());
    expect(overBudget(sizes)).toEqual([]);
  });

  it('names a stack past the budget with its count', () => {
    const app = new App();
    const crowded = new Stack(app, 'Crowded');
    for (let index = 0; index <= STACK_BUDGET.resources; index += 1) new sqs.Queue(crowded, `Queue${index}`);
    new sqs.Queue(new Stack(app, 'Roomy'), 'Queue');
    const over = overBudget(stackSizes(app.synth()));
    expect(over).toHaveLength(1);
    expect(over[0]).toMatch(new RegExp(`^Crowded: ${STACK_BUDGET.resources + 1} resources, \\d+ KB`));
  });
});

describe('values between stacks', () => {
  it('uses no CloudFormation export or import anywhere (an export in use could never change or go)', () => {
    for (const stack of stacks.stacks) {
      const template = templateOf(stack);
      expect(JSON.stringify(template.Resources), stack.stackName).not.toContain('Fn::ImportValue');
      const exported = Object.entries(template.Outputs ?? {}).filter(([, output]) => output.Export !== undefined);
      expect(exported, stack.stackName).toEqual([]);
    }
  });

  it('reads each SSM parameter from a stack it deploys after, which writes it', () => {
    const writer = new Map<string, Stack>();
    for (const stack of stacks.stacks) {
      for (const resource of Object.values(templateOf(stack).Resources)) {
        if (resource.Type === 'AWS::SSM::Parameter') {
          expect(writer.has(resource.Properties.Name), resource.Properties.Name).toBe(false);
          writer.set(resource.Properties.Name as string, stack);
        }
      }
    }
    let reads = 0;
    for (const stack of stacks.stacks) {
      for (const parameter of Object.values(templateOf(stack).Parameters ?? {})) {
        if (parameter.Type !== 'AWS::SSM::Parameter::Value<String>' || !parameter.Default?.startsWith('/TaskFlow/')) continue;
        reads += 1;
        const owner = writer.get(parameter.Default);
        expect(owner, `${stack.stackName} reads ${parameter.Default}`).toBeDefined();
        expect(dependsOn(stack, owner!), `${stack.stackName} reads ${parameter.Default} of ${owner!.stackName}`).toBe(true);
      }
    }
    expect(reads).toBeGreaterThan(0);
  });

  it('refuses to read a value its owner does not share, or to read its own', () => {
    const app = new App();
    const owner = new Stack(app, 'Owner');
    const shared = new SharedValues(owner, 'TaskFlow', 'owner');
    shared.share(owner, 'thing', 'value', 'a thing');
    const reader = new Stack(app, 'Reader');
    expect(() => shared.read(reader, 'other')).toThrow('Owner shares no /TaskFlow/owner/other (shared: thing)');
    expect(() => shared.read(owner, 'thing')).toThrow(/reads its own thing/);
    expect(shared.read(reader, 'thing')).toBeDefined();
    expect(reader.dependencies).toEqual([owner]);
  });
});

describe('deploy order', () => {
  it('deploys data, then the schema, then the functions, the API after its routes, operations last', () => {
    const order = stacks.stacks;
    for (const [index, stack] of order.entries()) {
      for (const dependency of stack.dependencies) expect(order.indexOf(dependency), `${stack.stackName} after ${dependency.stackName}`).toBeLessThan(index);
    }
    expect(order[0]).toBe(stacks.data);
    expect(order.at(-1)).toBe(stacks.operations);
    for (const stack of [stacks.reads, stacks.mutations, stacks.api, stacks.feed, stacks.workers]) expect(dependsOn(stack, stacks.schema), stack.stackName).toBe(true);
    for (const stack of order.slice(0, -1)) expect(dependsOn(stacks.operations, stack), stack.stackName).toBe(true);
  });
});

describe('the data stack', () => {
  it('has termination protection on', () => {
    expect(stacks.data.terminationProtection).toBe(true);
    expect(synthesized.assembly.getStackArtifact(stacks.data.artifactId).terminationProtection).toBe(true);
  });

  it('holds no function of TaskFlow\'s, reads no other stack\'s value: a code deploy never changes it', () => {
    const manifest = JSON.parse(readFileSync(path.join(synthesized.assembly.directory, `${stacks.data.artifactId}.assets.json`), 'utf8')) as {
      files: Record<string, { source: { path: string } }>;
    };
    const sources = Object.values(manifest.files).map((file) => file.source.path);
    // Only the template and CDK's own custom-resource handler (the default security group's restriction).
    expect(sources.filter((source) => !source.endsWith('.template.json')).every((source) => !source.includes('functions'))).toBe(true);
    const functions = Object.values(templateOf(stacks.data).Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    expect(functions.map((fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME)).toEqual([undefined]);
    expect(Object.values(templateOf(stacks.data).Parameters ?? {}).filter((parameter) => parameter.Default?.startsWith('/TaskFlow/'))).toEqual([]);
    expect(stacks.data.dependencies).toEqual([]);
  });

  it('keeps what holds data when the stack is deleted: the database as a snapshot, the rest retained', () => {
    const resources = Object.values(templateOf(stacks.data).Resources);
    const policies = (type: string) => resources.filter((resource) => resource.Type === type).map((resource) => resource.DeletionPolicy);
    expect(policies('AWS::RDS::DBInstance')).toEqual(['Snapshot']);
    for (const type of ['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::SecretsManager::Secret']) {
      expect(policies(type).length, type).toBeGreaterThan(0);
      expect(new Set(policies(type)), type).toEqual(new Set(['Retain']));
    }
  });
});
