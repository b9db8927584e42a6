// `decent` entry point: global options, subcommand dispatch, uniform help and exit codes.
//
// Exit codes: 0 success, 1 runtime error (unreadable file, undecodable datagram, …), 2 usage error.
// Adding a command = one file under src/cli/ exporting a `Command`, plus one line in COMMANDS.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, type Command, type CommandArgs, type Io } from './command';
import { benchCommand } from './bench';
import { decodeCommand } from './decode';
import { demoCommand } from './demo';
import { genkeyCommand } from './genkey';
import { initCommand } from './init';
import { ligCommand } from './lig';
import { runCommand } from './run';
import { showCommand } from './show';
import { traceCommand } from './trace';

const COMMANDS: readonly Command[] = [
  runCommand,
  initCommand,
  genkeyCommand,
  showCommand,
  ligCommand,
  demoCommand,
  decodeCommand,
  traceCommand,
  benchCommand,
];

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.err(globalHelp());
    return EXIT_USAGE;
  }
  if (first === '--help' || first === '-h') {
    io.out(globalHelp());
    return EXIT_OK;
  }
  if (first === '--version' || first === '-V') {
    io.out(`decent ${version()}\n`);
    return EXIT_OK;
  }
  if (first === 'help') {
    if (rest.length === 0) {
      io.out(globalHelp());
      return EXIT_OK;
    }
    const command = COMMANDS.find((c) => c.name === rest[0]);
    if (!command) return usageFailure(io, undefined, `unknown command '${rest[0]}'`);
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  if (first.startsWith('-')) return usageFailure(io, undefined, `unknown option '${first}'`);
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) return usageFailure(io, undefined, `unknown command '${first}'`);

  let args: CommandArgs;
  let help: boolean;
  try {
    ({ args, help } = parseCommandLine(command, rest));
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, command, e.message);
    throw e;
  }
  if (help) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  try {
    return await command.run(args, io);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, command, e.message);
    io.err(`decent ${command.name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_FAILURE;
  }
}

function parseCommandLine(command: Command, argv: string[]): { args: CommandArgs; help: boolean } {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const o of command.options) {
    options[o.name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    // parseArgs' messages carry advice about `--` after the first sentence; the first is the point.
    const message = e instanceof Error ? e.message.split(/\.\s/)[0] : String(e);
    throw new UsageError(message);
  }
  const values = new Map<string, string | boolean>();
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string' || typeof value === 'boolean') values.set(name, value);
  }
  const help = values.get('help') === true;
  values.delete('help');
  const positionals = parsed.positionals;
  if (!help) {
    if (positionals.length < command.minOperands) throw new UsageError(`missing operand: ${command.operands}`);
    if (positionals.length > command.maxOperands) {
      throw new UsageError(`unexpected argument '${positionals[command.maxOperands]}'`);
    }
  }
  return { args: { positionals, options: values }, help };
}

function usageFailure(io: Io, command: Command | undefined, message: string): number {
  if (command) {
    io.err(`decent ${command.name}: ${message}\nUsage: ${synopsis(command)}\n`
      + `Run 'decent ${command.name} --help' for details.\n`);
  } else {
    io.err(`decent: ${message}\nRun 'decent --help' for the list of commands.\n`);
  }
  return EXIT_USAGE;
}

function synopsis(command: Command): string {
  const opts = command.options.map((o) => (o.type === 'string' ? `[--${o.name} ${o.placeholder ?? 'VALUE'}]` : `[--${o.name}]`));
  return ['decent', command.name, command.operands, ...opts].filter((s) => s !== '').join(' ');
}

function commandHelp(command: Command): string {
  const rows: [string, string][] = command.options.map((o) => [
    `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.type === 'string' ? ` ${o.placeholder ?? 'VALUE'}` : ''}`,
    o.description,
  ]);
  rows.push(['-h, --help', 'show this help']);
  // Keep long options aligned whether or not they have a short form.
  return [
    `Usage: ${synopsis(command)}`,
    '',
    command.summary,
    '',
    command.description.trimEnd(),
    '',
    'Options:',
    ...table(rows),
    '',
    'Examples:',
    ...command.examples.map((e) => `  decent ${e}`),
    '',
  ].join('\n');
}

function globalHelp(): string {
  return [
    'Usage: decent COMMAND [OPTIONS]',
    '',
    'decent is a userspace LISP xTR whose mapping system is LISP-Decent.',
    '',
    'Commands:',
    ...table(COMMANDS.map((c) => [c.name, c.summary])),
    '',
    'Global options:',
    ...table([['-h, --help', 'show this help'], ['-V, --version', 'print the version']]),
    '',
    "Run 'decent COMMAND --help' for a command's options and examples.",
    'Exit status: 0 success, 1 runtime error, 2 usage error.',
    '',
    'Examples:',
    ...COMMANDS.flatMap((c) => c.examples.slice(0, 1).map((e) => `  decent ${e}`)),
    '',
  ].join('\n');
}

function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`);
}

/** The package version, read from package.json next to dist/ (or the source tree under ts tools). */
function version(): string {
  for (const candidate of ['../../../package.json', '../../package.json']) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(path.resolve(__dirname, candidate), 'utf8'));
      if (typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === 'decent-xtr'
        && 'version' in pkg && typeof pkg.version === 'string') {
        return pkg.version;
      }
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

/** Writes to the process streams; a closed stdout (e.g. `| head`) ends output quietly. */
function processIo(): Io {
  let closed = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    closed = true;
  });
  return {
    out: (text) => { if (!closed) process.stdout.write(text); },
    err: (text) => { process.stderr.write(text); },
  };
}
