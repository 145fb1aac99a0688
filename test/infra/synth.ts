import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, type IPolicyValidationPlugin, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { PROJECT_ROOT } from '../../lib/constructs/function';
import { TaskFlowStack } from '../../lib/stacks/taskflow-stack';

/** Synthesizing bundles every function with esbuild: give beforeAll room. */
export const SYNTH_TIMEOUT_MS = 180_000;

export interface Synthesized {
  app: App;
  stack: TaskFlowStack;
  assembly: CloudAssembly;
  template: Template;
}

/** The feature flags of cdk.json, so the tests see the template `cdk synth` produces. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

/** The app of bin/cdk.ts (same stack, same context), optionally with validation plugins; synthesized once. */
export function synthesizeTaskFlow(plugins: (app: App) => IPolicyValidationPlugin[] = () => []): Synthesized {
  const app = new App({ context: cdkJsonContext() });
  const stack = new TaskFlowStack(app, 'TaskFlow');
  const added = plugins(app);
  if (added.length > 0) Validations.of(app).addPlugins(...added);
  const assembly = app.synth();
  const template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>);
  return { app, stack, assembly, template };
}

/** The folder of a staged file asset, from the `S3Key` (`<hash>.zip`) a resource references. */
export function assetFolder(assembly: CloudAssembly, stack: TaskFlowStack, s3Key: string): string {
  const hash = s3Key.replace(/\.zip$/, '');
  const manifestPath = path.join(assembly.directory, `${stack.artifactId}.assets.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: Record<string, { source: { path: string } }> };
  const entry = manifest.files[hash];
  if (!entry) throw new Error(`asset ${hash} is not in ${manifestPath}`);
  return path.join(assembly.directory, entry.source.path);
}
