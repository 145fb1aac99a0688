import type { FunctionDeclaration } from '../declaration';
import type { AwsProvision, CapabilityModule, LocalServices, Platform } from './capability';
import { CAPABILITIES, type Capability } from './index';
import { sendsToAws, sendsToLocal } from './sends-to';

// A function's capabilities taken together, the same way for AWS and for the local runtime: what may go with
// what, then everything they give.

function modulesOf(declaration: FunctionDeclaration): [Capability, CapabilityModule][] {
  return [...new Set(declaration.needs)].map((need) => {
    if (!Object.hasOwn(CAPABILITIES, need)) throw new Error(`${declaration.entry} needs ${String(need)}, which is not a capability (lib/capabilities/)`);
    return [need, CAPABILITIES[need]];
  });
}

/** Refuses needs that cannot work together: a missing companion, the VPC with the internet, both database roles. */
export function checkNeeds(declaration: FunctionDeclaration): [Capability, CapabilityModule][] {
  const modules = modulesOf(declaration);
  const needs = new Set<string>(declaration.needs);
  for (const [name, module] of modules) {
    for (const companion of module.requires ?? []) {
      if (!needs.has(companion)) throw new Error(`A function that needs ${name} needs ${companion} too (${module.summary})`);
    }
  }
  if (needs.has('database') && needs.has('database-admin')) {
    throw new Error('A function needs either database (through the proxy) or database-admin (the instance), not both');
  }
  const inVpc = modules.filter(([, module]) => module.network === 'vpc').map(([name]) => name);
  const outside = modules.filter(([, module]) => module.network === 'internet');
  if (inVpc.length > 0 && outside.length > 0) {
    throw new Error(
      `A function cannot need both ${inVpc.join(', ')} and ${outside.map(([name]) => name).join(', ')}: the database is only ` +
        `reachable inside the VPC, and ${outside.map(([name, module]) => `${name}: ${module.internetBecause}`).join('; ')}. ` +
        'Split it: one function reads the database and queues a message, another calls out.',
    );
  }
  return modules;
}

/** Everything a function's capabilities and `sendsTo` give it in AWS, in the order declared. */
export function awsProvisions(declaration: FunctionDeclaration, platform: Platform): AwsProvision[] {
  const needs = new Set<string>(declaration.needs);
  return [
    ...checkNeeds(declaration).map(([, module]) => module.aws(platform, needs)),
    sendsToAws(declaration.entry, declaration.sendsTo ?? [], platform),
  ];
}

/**
 * The variables a function's capabilities and `sendsTo` give it on the local runtime, and those of their settings
 * the runtime's own environment sets (they win over the local defaults).
 */
export function localEnvironment(declaration: FunctionDeclaration, services: LocalServices, runtimeEnvironment: NodeJS.ProcessEnv): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [, module] of checkNeeds(declaration)) {
    Object.assign(environment, module.local(services));
    for (const setting of module.settings ?? []) {
      const value = runtimeEnvironment[setting];
      if (value !== undefined) environment[setting] = value;
    }
  }
  return Object.assign(environment, sendsToLocal(declaration.entry, declaration.sendsTo ?? [], services));
}
