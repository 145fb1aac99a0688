import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/function';
import { OPTED_IN, type Resource, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// Review M3: every alarm an operator can be woken by says where its runbook is, the runbook is there, and every
// runbook says how bad it is, what to check first, the commands, how to roll back and how to tell users.

const RUNBOOK = /docs\/runbooks\/[a-z0-9-]+\.md/g;
const RUNBOOKS = path.join(PROJECT_ROOT, 'docs', 'runbooks');
const ALARM_TYPES = ['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm'];

/** Each alarm of the app, with the stacks' optional parts on (the read replica, canary deploys). */
let alarms: [string, Resource][];

beforeAll(() => {
  const everything = { ...synthesizeTaskFlow().resources, ...synthesizeTaskFlow(OPTED_IN).resources };
  alarms = Object.entries(everything).filter(([, resource]) => ALARM_TYPES.includes(resource.Type));
}, SYNTH_TIMEOUT_MS);

/** The runbook paths an alarm's description names (a description may be a CloudFormation join). */
const runbooksOf = (resource: Resource) => [...JSON.stringify(resource.Properties.AlarmDescription ?? '').matchAll(RUNBOOK)].map((match) => match[0]);

describe('runbooks (review M3)', () => {
  it('are named by every alarm, and each one named exists', () => {
    expect(alarms.length).toBeGreaterThan(50);
    const without = alarms.filter(([, resource]) => runbooksOf(resource).length === 0).map(([id]) => id);
    expect(without, 'alarms whose description names no docs/runbooks/*.md').toEqual([]);
    const missing = alarms.flatMap(([id, resource]) => runbooksOf(resource).filter((file) => !existsSync(path.join(PROJECT_ROOT, file))).map((file) => `${id}: ${file}`));
    expect(missing, 'runbooks named but not written').toEqual([]);
  });

  it.each(readdirSync(RUNBOOKS).filter((file) => file.endsWith('.md')))('%s states severity, first checks, commands, rollback and how to tell users', (file) => {
    const text = readFileSync(path.join(RUNBOOKS, file), 'utf8');
    expect(text, 'a severity line: SEV1 (page now), SEV2 (within 15 minutes) or SEV3 (business hours)').toMatch(/^\*\*Severity\*\*: SEV[123]\b/m);
    for (const heading of ['First checks', 'Commands', 'Roll back', 'Tell users']) {
      expect(text, `a "## ${heading}" section`).toMatch(new RegExp(`^## ${heading}`, 'm'));
    }
  });
});
