import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeHelp, escapeLabelValue, formatValue, renderMetrics, type ContainerSnapshot } from '../../src/emperor/metrics.js';
import { parseMetricsAddress } from '../../src/emperor/metrics-server.js';
import { parseStats } from '../../src/emperor/stats.js';
import { defaultSpec } from '../../src/spec/index.js';
import { stateFixture } from '../helpers/state.js';

/**
 * Issue 16: the Prometheus text `vessel up --metrics` serves, rendered by one pure function from
 * the state files, the containers' usage and the Emperor's stats (captured from uWSGI 2.0.21).
 * Golden: test/fixtures/emperor/metrics.txt (UPDATE_GOLDEN=1 rewrites it; review the diff).
 */
const FIXTURES = join(__dirname, '..', 'fixtures', 'emperor');
const emperor = parseStats(readFileSync(join(FIXTURES, 'stats.json'), 'utf8'));

const state = stateFixture;

const containers: ContainerSnapshot[] = [
  {
    state: state('web', {
      restarts: 2,
      lastExit: { code: 143, signal: 'SIGTERM', oomKilled: false, reason: 'killed by SIGTERM', at: '2026-11-28T15:41:33.000Z' },
      health: { status: 'healthy', failingStreak: 0, log: [{ start: '2026-11-28T15:42:04.000Z', end: '2026-11-28T15:42:04.020Z', exitCode: 0, output: '' }] },
    }),
    status: 'running',
    stats: { cpuNanos: 1_250_000_000, memoryBytes: 1_531_904, memoryLimitBytes: 67_108_864, pids: 3, netRxBytes: 1792, netTxBytes: 516, blockReadBytes: 0, blockWriteBytes: 31_469_568, oomKills: 0 },
  },
  {
    state: state('crashy', { status: 'exited', restarts: 3, lastExit: { code: 1, oomKilled: false, reason: 'exited 1', at: '2026-11-28T15:41:42.000Z' }, health: { status: 'unhealthy', failingStreak: 3, log: [] } }),
    status: 'exited',
  },
  { state: state('job', { mode: 'detached', spec: defaultSpec('job', 'registry.example:5000/team/job:1.2', 'flags') }), status: 'dead' },
];

describe('renderMetrics', () => {
  it('matches the golden exposition', () => {
    const text = renderMetrics({ containers, emperor });
    const path = join(FIXTURES, 'metrics.txt');
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, text);
    expect(text).toBe(readFileSync(path, 'utf8'));
  });

  it('is the text format: HELP and TYPE once, before their samples; every series once; a final newline', () => {
    const text = renderMetrics({ containers, emperor });
    expect(text.endsWith('\n')).toBe(true);
    const typed = new Set<string>();
    const series = new Set<string>();
    let current = '';
    for (const line of text.slice(0, -1).split('\n')) {
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (meta) {
        if (meta[1] === 'TYPE') {
          expect(typed.has(meta[2]!), `TYPE ${meta[2]} twice`).toBe(false);
          expect(['counter', 'gauge']).toContain(meta[3]);
          typed.add(meta[2]!);
        }
        current = meta[2]!;
        continue;
      }
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (\S+)$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(m![1]).toBe(current);
      expect(Number.isNaN(Number(m![3])) && m![3] !== 'NaN').toBe(false);
      expect(series.has(`${m![1]}${m![2] ?? ''}`), `${line} twice`).toBe(false);
      series.add(`${m![1]}${m![2] ?? ''}`);
      if (current.endsWith('_total')) expect(typed.has(current)).toBe(true);
    }
  });

  it('what each container and vassal shows', () => {
    const text = renderMetrics({ containers, emperor });
    expect(text).toContain('vessel_container_state{name="web",state="running"} 1\n');
    expect(text).toContain('vessel_container_state{name="job",state="dead"} 1\n');
    expect(text).toContain('vessel_container_restarts_total{name="crashy"} 3\n');
    expect(text).toContain('vessel_container_last_exit_code{name="web"} 143\n');
    expect(text).toContain('vessel_container_health_status{name="web",status="healthy"} 1\n');
    // an exited container's last health is not reported as its state
    expect(text).not.toContain('vessel_container_health_status{name="crashy"');
    expect(text).toContain('vessel_container_cpu_seconds_total{name="web"} 1.25\n');
    expect(text).toContain('vessel_container_memory_bytes{name="web"} 1531904\n');
    expect(text).toContain('vessel_container_pids{name="web"} 3\n');
    expect(text).toContain('vessel_vassal_loyal{vassal="web.vessel"} 1\n');
    expect(text).toContain('vessel_vassal_throttle_seconds{vassal="crashy.vessel"} 3.001\n');
    expect(text).toContain('vessel_emperor_up 1\n');
  });

  it('without an Emperor: vessel_emperor_up 0 and the containers still', () => {
    const text = renderMetrics({ containers: containers.slice(0, 1) });
    expect(text).toContain('vessel_emperor_up 0\n');
    expect(text).not.toContain('vessel_vassal_');
    expect(text).toContain('vessel_container_info{name="web",image="busybox:latest",mode="vassal"} 1\n');
  });

  it('escapes as the format says: \\\\ and \\n in HELP, also \\" in label values', () => {
    expect(escapeHelp('a\\b\nc "d"')).toBe('a\\\\b\\nc "d"');
    expect(escapeLabelValue('a\\b\nc "d"')).toBe('a\\\\b\\nc \\"d\\"');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(0.1 + 0.2)).toBe('0.30000000000000004');
    // a vassal file name (any uWSGI config) may hold what needs escaping
    const odd = { ...emperor, vassals: [{ ...emperor.vassals[0]!, id: 'we"ird\\name\n.ini' }], blacklist: [] };
    expect(renderMetrics({ containers: [], emperor: odd })).toContain('vessel_vassal_loyal{vassal="we\\"ird\\\\name\\n.ini"} 1\n');
  });
});

describe('the metrics address', () => {
  it('loopback by default', () => {
    expect(parseMetricsAddress('127.0.0.1:9101', false, '--metrics')).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(parseMetricsAddress('[::1]:9101', false, '--metrics')).toEqual({ host: '::1', port: 9101 });
    expect(parseMetricsAddress('localhost:0', false, '--metrics')).toEqual({ host: 'localhost', port: 0 });
    expect(parseMetricsAddress('127.1.2.3:9101', false, '--metrics').host).toBe('127.1.2.3');
  });
  it('anything else only when allowed, with one line naming where it came from', () => {
    expect(() => parseMetricsAddress('0.0.0.0:9101', false, '--metrics')).toThrow('--metrics "0.0.0.0:9101": 0.0.0.0 is not a loopback address, and the metrics name every container, its image and its usage');
    expect(() => parseMetricsAddress('[::]:9101', false, 'env VESSEL_METRICS')).toThrow(/^env VESSEL_METRICS "\[::\]:9101": :: is not a loopback address/);
    expect(parseMetricsAddress('0.0.0.0:9101', true, '--metrics')).toEqual({ host: '0.0.0.0', port: 9101 });
    expect(() => parseMetricsAddress(':9101', true, '--metrics')).toThrow('--metrics ":9101": name the address to listen on, e.g. 127.0.0.1:9101');
    for (const bad of ['9101', '127.0.0.1', '127.0.0.1:99999', '127.0.0.1:x', '::1:9101']) {
      expect(() => parseMetricsAddress(bad, false, '--metrics')).toThrow(/expected HOST:PORT/);
    }
  });
});
