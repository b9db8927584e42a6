// What a subcommand declares, so that main.ts can parse, validate and document it uniformly.

/** Where a command writes. Tests pass a capturing implementation; `main` defaults to the process. */
export interface Io {
  /** Writes to standard output; `text` carries its own newlines. */
  out(text: string): void;
  err(text: string): void;
}

export interface OptionDef {
  readonly name: string;
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** For string options: how the value is shown in help, e.g. `PASSWORD`. */
  readonly placeholder?: string;
  readonly description: string;
}

/** Parsed command line handed to `run`. */
export interface CommandArgs {
  readonly positionals: readonly string[];
  /** Options given; a boolean option is `true` when present, a string option holds its value. */
  readonly options: ReadonlyMap<string, string | boolean>;
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Positional part of the synopsis, e.g. `FILE.pcap`. */
  readonly operands: string;
  readonly minOperands: number;
  readonly maxOperands: number;
  /** Paragraphs shown by `--help` after the synopsis. */
  readonly description: string;
  readonly options: readonly OptionDef[];
  /** Command lines shown under "Examples:" (without the leading `decent`). */
  readonly examples: readonly string[];
  /** Exit status: 0 ok, 1 runtime error. Throw UsageError for bad invocations (exit 2). */
  run(args: CommandArgs, io: Io): Promise<number>;
}

/** A bad command line: main prints the message and the usage line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function stringOption(args: CommandArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagOption(args: CommandArgs, name: string): boolean {
  return args.options.get(name) === true;
}
