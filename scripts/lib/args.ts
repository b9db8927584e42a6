// Tiny flag parser for scripts: `--name value` and `--flag`, with a usage error on anything else.
import { parseArgs } from 'node:util';

export function scriptArgs<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(
  usage: string, options: T,
): { [K in keyof T]: T[K]['type'] extends 'string' ? string : boolean } {
  try {
    const { values } = parseArgs({ options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false });
    if ((values as Record<string, unknown>).help) {
      process.stdout.write(usage);
      process.exit(0);
    }
    return values as unknown as { [K in keyof T]: T[K]['type'] extends 'string' ? string : boolean };
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}

export function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
