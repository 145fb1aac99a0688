import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, type CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { FAULT_INJECTION_CONTEXT } from '../../lib/constructs/fault-injection';
import { PROJECT_ROOT } from '../../lib/constructs/function';
import type { TaskFlowFunction } from '../../lib/constructs/function';
import { TaskFlow } from '../../lib/stacks/taskflow';

// The infrastructure tests' one synthesis: the app of bin/cdk.ts (same stacks, same context, cdk-nag registered),
// made once per run (the infra project shares one module graph) and read as one template.

/** Synthesizing the app (and bundling the one function whose bundle a test reads): room for beforeAll. */
export const SYNTH_TIMEOUT_MS = 180_000;

export type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[]; DeletionPolicy?: string; Condition?: string };

export interface Synthesized {
  app: App;
  stacks: TaskFlow;
  assembly: CloudAssembly;
  /** Each stack's own template, by stack name. */
  templates: Record<string, Template>;
  /**
   * Every stack's resources as one template, each value a stack reads from another's SSM parameter replaced by the
   * value the other writes there: what the single stack's template said, wherever the resource now lives.
   */
  template: Template;
  resources: Record<string, Resource>;
}

/** The resources of one CloudFormation type, with their logical ids. */
export const resourcesOfType = (resources: Record<string, Resource>, type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type);

type Section = 'Parameters' | 'Mappings' | 'Conditions' | 'Resources' | 'Outputs';
type TemplateJson = Partial<Record<Section, Record<string, any>>>;

/** The feature flags of cdk.json, so the tests see the templates `cdk synth` produces. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

const made = new Map<string, Synthesized>();

/**
 * The app of bin/cdk.ts with `context` on top of cdk.json's, synthesized once per context in this run. Only the
 * schema stack's function (the migrate function, whose bundle a test reads) is bundled.
 */
/**
 * Every opt-in `-c` flag at once (a read replica, fault injection): one more synthesis serves the tests of each, since
 * neither changes what the other adds.
 */
export const OPTED_IN = { readReplica: 'true', [FAULT_INJECTION_CONTEXT]: 'true' };

export function synthesizeTaskFlow(context: Record<string, unknown> = {}): Synthesized {
  const key = JSON.stringify(context);
  if (!made.has(key)) {
    const app = new App({
      context: {
        ...cdkJsonContext(),
        // As `cdk synth` writes the templates (their size counts against the budget).
        'aws:cdk:enable-path-metadata': true,
        'aws:cdk:enable-asset-metadata': true,
        'aws:cdk:bundling-stacks': ['TaskFlow-Schema'],
        ...context,
      },
    });
    const stacks = new TaskFlow(app);
    // cdk-nag as bin/cdk.ts registers it: an unacknowledged AwsSolutions error makes the synthesis throw.
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const assembly = app.synth();
    const templates = Object.fromEntries(assembly.stacks.map((stack) => [stack.stackName, Template.fromJSON(stack.template as Record<string, unknown>)]));
    const merged = mergedTemplate(assembly);
    made.set(key, { app, stacks, assembly, templates, template: Template.fromJSON(merged), resources: merged.Resources as Record<string, Resource> });
  }
  return made.get(key)!;
}

/**
 * All stacks' templates as one, ids unique across them (a parameter such as BootstrapVersion, the same in each, once),
 * with the SSM parameters between stacks resolved.
 */
function mergedTemplate(assembly: CloudAssembly): TemplateJson {
  const templates = assembly.stacks.map((stack) => ({ name: stack.stackName, template: stack.template as TemplateJson }));
  const written = new Map<string, unknown>();
  for (const { template } of templates) {
    for (const resource of Object.values(template.Resources ?? {}) as Resource[]) {
      if (resource.Type === 'AWS::SSM::Parameter') written.set(resource.Properties.Name as string, resource.Properties.Value);
    }
  }
  const all: Required<TemplateJson> = { Parameters: {}, Mappings: {}, Conditions: {}, Resources: {}, Outputs: {} };
  for (const { name, template } of templates) {
    const read = new Map(
      Object.entries((template.Parameters ?? {}) as Record<string, { Type: string; Default?: string }>)
        // Those of the app's stacks (not the CDK bootstrap's version).
        .filter(([, parameter]) => parameter.Type === 'AWS::SSM::Parameter::Value<String>' && parameter.Default?.startsWith('/TaskFlow/'))
        .map(([id, parameter]) => {
          if (!written.has(parameter.Default!)) throw new Error(`${name} reads ${parameter.Default}, which no stack writes`);
          return [id, written.get(parameter.Default!)] as const;
        }),
    );
    const resolve = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(resolve);
      if (value === null || typeof value !== 'object') return value;
      const { Ref } = value as { Ref?: string };
      if (typeof Ref === 'string' && read.has(Ref)) return read.get(Ref);
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, resolve(inner)]));
    };
    for (const section of ['Parameters', 'Mappings', 'Conditions', 'Resources', 'Outputs'] as const) {
      for (const [id, value] of Object.entries(template[section] ?? {})) {
        if (section === 'Parameters' && read.has(id)) continue;
        const resolved = resolve(value);
        if (Object.hasOwn(all[section], id) && JSON.stringify(all[section][id]) !== JSON.stringify(resolved)) {
          throw new Error(`${section} ${id} is in two stacks (${name} and another), differently`);
        }
        all[section][id] = resolved;
      }
    }
  }
  return all;
}

/** The logical id of an L2 construct's CloudFormation resource, in whichever stack it is. */
export const logicalId = (construct: IConstruct) => Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnResource);

/** The REST route functions by operationId, from every route group's stack. */
export function routeFunctions(stacks: TaskFlow): Map<string, TaskFlowFunction> {
  return new Map([...stacks.reads.routeFunctions, ...stacks.mutations.routeFunctions]);
}

/**
 * The logical id of a function's `live` alias: what API Gateway, the event sources and the rules invoke (its Ref is
 * the alias ARN).
 */
export function liveAliasId(stacks: TaskFlow, fn: TaskFlowFunction): string {
  for (const stack of [stacks.reads, stacks.mutations, stacks.api, stacks.feed, stacks.workers]) {
    const live = stack.deployments.functions.get(fn);
    if (live) return logicalId(live.alias);
  }
  throw new Error(`${fn.node.path} has no live alias`);
}

/** Whether `value` (a FunctionName, a URI, a target's ARN) names the alias `aliasId`, as CDK renders it (its ARN, or `<name>:live`). */
export const namesAlias = (value: unknown, aliasId: string) => JSON.stringify(value).includes(`"${aliasId}"`);

/** `Qualifier` of an alias's asynchronous-invocation settings: the alias's name, from its ARN. */
export const aliasQualifier = (aliasId: string) => ({ 'Fn::Select': [7, { 'Fn::Split': [':', { Ref: aliasId }] }] });

/** The folder of a staged file asset, from the `S3Key` (`<hash>.zip`) a resource of `stack` references. */
export function assetFolder(assembly: CloudAssembly, stack: Stack, s3Key: string): string {
  const hash = s3Key.replace(/\.zip$/, '');
  const manifestPath = path.join(assembly.directory, `${stack.artifactId}.assets.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: Record<string, { source: { path: string } }> };
  const entry = manifest.files[hash];
  if (!entry) throw new Error(`asset ${hash} is not in ${manifestPath}`);
  return path.join(assembly.directory, entry.source.path);
}
