import type { CloudAssembly } from 'aws-cdk-lib/cx-api';

/**
 * What each stack may hold: CloudFormation refuses a stack of more than 500 resources and a template over 1 MB (from
 * S3); TaskFlow keeps each well inside, so a feature never finds its stack full.
 */
export const STACK_BUDGET = { resources: 400, templateKb: 800 } as const;

export interface StackSize {
  name: string;
  resources: number;
  templateKb: number;
}

/** Each stack of a synthesized assembly: its resources and the size of its template as `cdk synth` writes it. */
export function stackSizes(assembly: CloudAssembly): StackSize[] {
  return assembly.stacks.map((stack) => ({
    name: stack.stackName,
    resources: Object.keys((stack.template as { Resources?: object }).Resources ?? {}).length,
    // The template file is pretty-printed JSON, one space per level, as CloudFormation receives it.
    templateKb: Buffer.byteLength(JSON.stringify(stack.template, null, 1)) / 1024,
  }));
}

/** The stacks over budget, each named with its figures. */
export function overBudget(sizes: readonly StackSize[]): string[] {
  return sizes
    .filter(({ resources, templateKb }) => resources > STACK_BUDGET.resources || templateKb > STACK_BUDGET.templateKb)
    .map(({ name, resources, templateKb }) => `${name}: ${resources} resources, ${templateKb.toFixed(0)} KB (budget ${STACK_BUDGET.resources}, ${STACK_BUDGET.templateKb} KB)`);
}
