import { beforeAll, describe, expect, it } from 'vitest';
import { TRACE_SAMPLING } from '../../functions/shared/telemetry';
import { taskflow } from '../../lib/app';
import { REST_STAGE } from '../../lib/constructs/api';
import { type Resource, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// Issue 14 §3 (review M2): X-Ray traces every request with the debug header, every canary request and about 10 % of
// the rest of the API's, and the API stage, the functions and the queues' consumers are traced at all.

type Rule = { RuleName: string; Priority: number; FixedRate: number; ReservoirSize: number; ServiceName: string; ServiceType: string; Attributes?: Record<string, string> };
let rules: Rule[];
let resources: Record<string, Resource>;
let operations: Record<string, Resource>;

beforeAll(() => {
  const synthesized = synthesizeTaskFlow();
  resources = synthesized.resources;
  operations = synthesized.templates[synthesized.stacks.operations.stackName]!.toJSON().Resources;
  rules = Object.values(resources).filter((r) => r.Type === 'AWS::XRay::SamplingRule').map((r) => r.Properties.SamplingRule as Rule);
}, SYNTH_TIMEOUT_MS);

/** The rule X-Ray applies to an API request with these headers: the first that matches, by priority. */
function ruleFor(headers: Record<string, string>): Rule | undefined {
  const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return [...rules]
    .sort((a, b) => a.Priority - b.Priority)
    .find((rule) =>
      glob(rule.ServiceName).test(`${taskflow.name}/${REST_STAGE}`) &&
      Object.entries(rule.Attributes ?? {}).every(([name, value]) => headers[name] !== undefined && glob(value).test(headers[name]!)));
}

describe('trace sampling', () => {
  it('is declared in the operations stack, for the REST API stage only', () => {
    expect(Object.values(operations).filter((r) => r.Type === 'AWS::XRay::SamplingRule')).toHaveLength(rules.length);
    expect(rules.length).toBeGreaterThanOrEqual(3);
    for (const rule of rules) {
      expect(rule).toMatchObject({ ServiceName: `${taskflow.name}/${REST_STAGE}`, ServiceType: 'AWS::ApiGateway::Stage' });
      expect(rule.RuleName.length).toBeLessThanOrEqual(32);
      for (const [name, value] of Object.entries(rule.Attributes ?? {})) expect([name.length, value.length].every((n) => n <= 32)).toBe(true);
    }
    expect(new Set(rules.map((rule) => rule.RuleName)).size).toBe(rules.length);
    expect(new Set(rules.map((rule) => rule.Priority)).size).toBe(rules.length);
  });

  it('traces every request with the debug header, however the client spells the header', () => {
    for (const name of ['X-Debug-Trace', 'x-debug-trace']) expect(ruleFor({ [name]: '1', 'User-Agent': 'curl/8.5' })?.FixedRate).toBe(1);
    expect(TRACE_SAMPLING.debugHeader).toBe('X-Debug-Trace');
  });

  it('lets a page on another origin send the debug header (every preflight allows it)', () => {
    const preflights = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties.HttpMethod === 'OPTIONS');
    expect(preflights.length).toBeGreaterThan(0);
    for (const method of preflights) {
      expect(method.Properties.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.Access-Control-Allow-Headers']).toContain('X-Debug-Trace');
    }
  });

  it('traces every request of the canary (its User-Agent starts with TaskFlow-Canary)', () => {
    expect(ruleFor({ 'User-Agent': 'TaskFlow-Canary/1 synthetic-transaction' })?.FixedRate).toBe(1);
    expect(ruleFor({ 'user-agent': 'TaskFlow-Canary' })?.FixedRate).toBe(1);
  });

  it('traces about 10 % of ordinary requests, and one a second before that so a quiet API still has traces', () => {
    const ordinary = ruleFor({ 'User-Agent': 'Mozilla/5.0', 'X-Debug-Trace': '0' });
    expect(ordinary).toMatchObject({ FixedRate: 0.1, ReservoirSize: 1 });
    // Ahead of X-Ray's default rule (priority 10000), behind the debug and canary rules.
    expect(ordinary!.Priority).toBeLessThan(10_000);
    expect(ordinary!.Priority).toBeGreaterThan(Math.max(...rules.filter((rule) => rule.FixedRate === 1).map((rule) => rule.Priority)));
  });

  it('has something to sample: the API stage, every function and so every queue consumer are traced', () => {
    const stages = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGateway::Stage');
    expect(stages.length).toBeGreaterThan(0);
    for (const stage of stages) expect(stage.Properties.TracingEnabled).toBe(true);
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler');
    expect(functions.length).toBeGreaterThan(10);
    for (const fn of functions) expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
  });
});
