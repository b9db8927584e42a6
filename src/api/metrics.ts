// Prometheus text exposition (format 0.0.4) of a node's counters and table sizes.

export interface MetricsInput {
  readonly node: string;
  readonly control: Readonly<Record<string, number>>;
  readonly dataplane: Readonly<Record<string, number>>;
  /** The API server's own counters (`api.requests`, `api.rejected.REASON`). */
  readonly api: Readonly<Record<string, number>>;
  readonly siteCacheSize: number;
  readonly mapCacheSize: number;
  readonly members: number;
  readonly rlocsDown: number;
  readonly restarts: number;
}

const metricName = (s: string): string => s.replace(/[^a-zA-Z0-9_]/g, '_');
const label = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderMetrics(m: MetricsInput): string {
  const out: string[] = [];
  const node = `node="${label(m.node)}"`;
  const gauge = (name: string, help: string, value: number): void => {
    out.push(`# HELP decent_${name} ${help}`, `# TYPE decent_${name} gauge`, `decent_${name}{${node}} ${value}`);
  };
  // Control counters, one family per message kind, so dashboards can sum by `event`.
  out.push('# HELP decent_control_events_total LISP control-plane events by kind (sent, received, rejected, ...).');
  out.push('# TYPE decent_control_events_total counter');
  for (const [k, v] of Object.entries(m.control)) out.push(`decent_control_events_total{${node},event="${label(k)}"} ${v}`);
  for (const [k, v] of Object.entries(m.dataplane)) {
    const name = `dataplane_${metricName(k)}`;
    out.push(`# TYPE decent_${name} ${/size|entries|pending/.test(k) ? 'gauge' : 'counter'}`, `decent_${name}{${node}} ${v}`);
  }
  out.push('# HELP decent_api_requests_rejected_total Local API requests refused, by reason.');
  out.push('# TYPE decent_api_requests_rejected_total counter');
  for (const [k, v] of Object.entries(m.api)) {
    if (k.startsWith('api.rejected.')) out.push(`decent_api_requests_rejected_total{${node},reason="${label(k.slice('api.rejected.'.length))}"} ${v}`);
  }
  gauge('site_cache_entries', 'Registrations this node holds as a Map-Server.', m.siteCacheSize);
  gauge('map_cache_entries', 'Mappings in the ITR map-cache.', m.mapCacheSize);
  gauge('group_members', 'Members registrations are replicated to.', m.members);
  gauge('rlocs_down', 'Map-cache RLOCs currently marked down.', m.rlocsDown);
  gauge('control_restarts', 'Times the control worker was restarted after a crash.', m.restarts);
  return `${out.join('\n')}\n`;
}
