// `decent run --config FILE`: runs a node until SIGTERM/SIGINT (which withdraw its registrations
// and remove what it added).
import { ConfigError, loadConfig } from '../config/load';
import { makeLogger, type Level } from '../daemon/log';
import { startNode } from '../daemon/node';
import { reloadConfig } from '../daemon/reload';
import { UsageError, flagOption, stringOption, type Command } from './command';

export const runCommand: Command = {
  name: 'run',
  summary: 'run a decent node from its config file',
  operands: '',
  minOperands: 0,
  maxOperands: 0,
  description: [
    'Starts the control plane (a worker thread speaking LISP on UDP 4342: ETR, Map-Server and',
    'Map-Resolver of a LISP-Decent push group), the data plane when the config has a',
    "'dataplane' section (TUN + UDP 4341), and the local API on a unix socket for 'decent show'.",
    '',
    'SIGTERM or SIGINT withdraws the registrations (Record TTL 0, so peers drop this node at',
    'once), removes the TUN device and routes, and exits 0. Logs are JSON lines on stderr.',
    '',
    'Exit status: 0 after a clean stop, 1 when the node fails at run time, 2 for a bad config.',
  ].join('\n'),
  options: [
    { name: 'config', short: 'c', type: 'string', placeholder: 'FILE', description: 'the node config (YAML)' },
    { name: 'log-level', type: 'string', placeholder: 'LEVEL', description: 'debug, info, warn or error (overrides the config)' },
    { name: 'pretty', type: 'boolean', description: 'human-readable logs instead of JSON lines' },
  ],
  examples: ['run --config /etc/decent/n1.yaml', 'run -c examples/her-node.yaml --log-level debug --pretty'],
  async run(args, io) {
    const file = stringOption(args, 'config');
    if (!file) throw new UsageError('--config FILE is required');
    const levelArg = stringOption(args, 'log-level');
    if (levelArg !== undefined && !['debug', 'info', 'warn', 'error'].includes(levelArg)) {
      throw new UsageError(`--log-level must be debug, info, warn or error, not '${levelArg}'`);
    }
    let cfg;
    try {
      cfg = loadConfig(file);
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err(`decent run: invalid config\n${e.problems.map((p) => `  ${p}`).join('\n')}\n`);
        return 2;
      }
      throw e;
    }
    const log = makeLogger({
      level: (levelArg ?? cfg.raw.log.level) as Level, subsystems: cfg.raw.log.subsystems, pretty: flagOption(args, 'pretty'),
    });
    for (const w of cfg.warnings) log('warn', 'node', w);
    let node;
    try {
      node = await startNode(cfg, log, (levelArg ?? cfg.raw.log.level) as Level);
    } catch (e) {
      io.err(`decent run: ${(e as Error).message}\n`);
      return 1;
    }
    const running = node;
    // Tests of crash recovery (DECENT_TEST_CRASH_SIGNAL=1): SIGUSR2 makes the control worker crash.
    if (process.env.DECENT_TEST_CRASH_SIGNAL === '1') process.on('SIGUSR2', () => running.control.crashForTest());
    let exitCode = 0;
    await new Promise<void>((resolve) => {
      running.fatal.then((e) => {
        // The control worker keeps crashing: stop everything and exit non-zero, so systemd
        // (Restart=on-failure) starts a fresh process.
        log('error', 'node', `${e.message}; stopping (exit 1)`);
        exitCode = 1;
        running.stop(false).then(resolve, resolve);
      }, () => undefined);
      const stop = (signal: string): void => {
        log('info', 'node', `${signal}: stopping`);
        running.stop(true).then(resolve, (e: Error) => {
          log('error', 'node', `stop failed: ${e.message}`);
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => reloadConfig(running, cfg, log));
    });
    return exitCode;
  },
};
