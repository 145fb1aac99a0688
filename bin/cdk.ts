#!/usr/bin/env node
// The CDK app: `npx cdk synth` / `npx cdk deploy --all` (cdk.json runs it with tsx).
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { taskflow } from '../lib/app';
import { TaskFlow } from '../lib/stacks/taskflow';

const app = new App();
new TaskFlow(app);
Tags.of(app).add('Application', taskflow.name);

// cdk-nag 3 is a policy-validation plugin (it replaced the v2 Aspect): any unacknowledged
// AwsSolutions error fails the synthesis.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
