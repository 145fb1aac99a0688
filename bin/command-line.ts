import { parseArgs, type ParseArgsConfig } from 'node:util';

// The options of this repository's command-line tools, read the same way: a usage error prints it with the usage and
// exits 2, `--help` (`-h`) prints the usage and exits 0.

/** Exits 2 with `message` and the usage. */
export function usageError(usage: string, message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** parseArgs with `--help`; a malformed command line is a usage error. */
export function parseCommandLine<T extends ParseArgsConfig>(usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs({ ...config, options: { ...config.options, help: { type: 'boolean', short: 'h' } } } as T);
  } catch (error) {
    return usageError(usage, (error as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
}
