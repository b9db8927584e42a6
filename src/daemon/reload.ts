// SIGHUP: re-read the config file and apply what the running node can take without a restart.
// Forwarding state lives in the data plane and is not touched; the control plane takes its whole
// new configuration live. Everything else is reported as waiting for a restart.
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load';
import type { ControlConfig } from '../control/config';
import type { Logger } from './log';

/**
 * Config keys (top-level, or `timers.X`) a SIGHUP applies live: the control worker takes them
 * with its new ControlConfig (registrations, seeds and group, key, policy, caps, timers, NAT).
 */
export const LIVE_RELOAD_KEYS: readonly string[] = [
  'eids', 'decent', 'auth', 'policy', 'limits', 'nat', 'site-id',
  'timers.register-interval', 'timers.registration-ttl', 'timers.probe-interval', 'timers.map-reply-ttl',
];

/**
 * Keys whose changes wait for a restart, in the order of the file: every key not in
 * LIVE_RELOAD_KEYS (the name, RLOCs, xTR-ID, the data plane, the API, logging, the main thread's
 * timers). A key the list does not know is treated the same way: saying "restart" is never wrong.
 */
export function restartOnlyChanges(started: LoadedConfig['raw'], next: LoadedConfig['raw']): string[] {
  const a = started as unknown as Record<string, unknown>;
  const b = next as unknown as Record<string, unknown>;
  const keys: string[] = [];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === 'timers') {
      const ta = (a.timers ?? {}) as Record<string, unknown>;
      const tb = (b.timers ?? {}) as Record<string, unknown>;
      for (const t of new Set([...Object.keys(ta), ...Object.keys(tb)])) {
        if (JSON.stringify(ta[t]) !== JSON.stringify(tb[t])) keys.push(`timers.${t}`);
      }
    } else if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
      keys.push(key);
    }
  }
  return keys.filter((k) => !LIVE_RELOAD_KEYS.includes(k));
}

export interface Reconfigurable {
  readonly control: { reconfigure(config: ControlConfig): void };
}

/**
 * Loads `started.file` again and hands the control plane its new config. An invalid file changes
 * nothing (logged with its problems). Returns the config now in force for the live keys.
 */
export function reloadConfig(node: Reconfigurable, started: LoadedConfig, log: Logger): LoadedConfig | undefined {
  let next: LoadedConfig;
  try {
    next = loadConfig(started.file);
  } catch (e) {
    log('error', 'node', 'SIGHUP: the new config is invalid; keeping the running one', { problems: e instanceof ConfigError ? e.problems : [(e as Error).message] });
    return undefined;
  }
  const waiting = restartOnlyChanges(started.raw, next.raw);
  if (waiting.length) log('warn', 'node', `SIGHUP: changes to ${waiting.join(', ')} take effect after a restart`);
  // The key exchange keeps its key pair until a restart (crypto and dataplane are restart-only);
  // a worker restarted later must come back with the same key, not the one this load generated.
  const inForce: LoadedConfig = { ...next, control: { ...next.control, crypto: started.control.crypto } };
  node.control.reconfigure(inForce.control);
  log('info', 'node', 'SIGHUP: configuration reloaded');
  return inForce;
}
