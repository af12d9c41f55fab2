import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmperorWorld, repo, requireHost, serviceSpec, waitFor, type UpProcess } from '../helpers/emperor.js';
import { freePort } from '../helpers/net.js';

/**
 * Issue 16: `vessel up --metrics 127.0.0.1:PORT` under a real uWSGI Emperor, scraped over HTTP;
 * the page is checked by promtool (Debian's prometheus), Prometheus' own parser and linter.
 */
requireHost();
if (spawnSync('promtool', ['--version']).status !== 0) throw new Error('promtool is not installed (apt-get install prometheus; .ci/packages)');
const w = new EmperorWorld('metrics');
const port = freePort();
let up: UpProcess;

function get(path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: 10_000 }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, type: String(r.headers['content-type'] ?? ''), body }));
    });
    req.on('error', rej);
    req.end();
  });
}

const sample = (body: string, series: string): number | undefined => {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

beforeAll(async () => {
  w.importBusybox();
  up = await w.up(['--metrics', `127.0.0.1:${port}`]);
});

afterAll(async () => {
  await w.cleanup();
});

describe('vessel up --metrics', () => {
  it('serves the containers, their usage and the Emperor as Prometheus text that promtool accepts', async () => {
    w.drop('mx-web', serviceSpec(['', '[limits]', 'memory = 64M']));
    await w.running('mx-web');
    const body = await waitFor('mx-web loyal in the metrics', async () => {
      const r = await get('/metrics');
      return r.body.includes('vessel_vassal_loyal{vassal="mx-web.vessel"} 1\n') && r.body.includes('vessel_container_cpu_seconds_total{name="mx-web"}') ? r.body : undefined;
    }, 30_000, 200);
    expect(sample(body, 'vessel_container_state{name="mx-web",state="running"}')).toBe(1);
    expect(sample(body, 'vessel_container_restarts_total{name="mx-web"}')).toBe(0);
    expect(sample(body, 'vessel_container_memory_bytes{name="mx-web"}')).toBeGreaterThan(0);
    expect(sample(body, 'vessel_container_memory_limit_bytes{name="mx-web"}')).toBe(64 * 1024 * 1024);
    expect(sample(body, 'vessel_container_pids{name="mx-web"}')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'vessel_container_cpu_seconds_total{name="mx-web"}')).toBeGreaterThanOrEqual(0);
    expect(body).toContain('vessel_container_info{name="mx-web",image="busybox:latest",mode="vassal"} 1\n');
    expect(sample(body, 'vessel_emperor_up')).toBe(1);
    expect(sample(body, 'vessel_emperor_vassals')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'vessel_vassal_respawns_total{vassal="mx-web.vessel"}')).toBeGreaterThanOrEqual(0);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(`${check.status} ${check.stdout}${check.stderr}`).toBe('0 ');
  });

  it('answers as a Prometheus target does: its content type, 404 elsewhere, 405 for other methods', async () => {
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect((await get('/metrics', 'HEAD')).body).toBe('');
    expect((await get('/')).status).toBe(404);
    expect((await get('/metrics', 'POST')).status).toBe(405);
  });

  it('an address other than loopback is refused before anything starts: flag, environment, config file', () => {
    const cli = join(repo, 'bin', 'vessel.js');
    const conf = join(w.root, 'vessel.conf');
    writeFileSync(conf, 'VESSEL_METRICS = 192.0.2.1:9101\n');
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--metrics', '0.0.0.0:9101'], {}, /^vessel: --metrics "0\.0\.0\.0:9101": 0\.0\.0\.0 is not a loopback address/],
      [[], { VESSEL_METRICS: '[::]:9101' }, /^vessel: env VESSEL_METRICS "\[::\]:9101": :: is not a loopback address/],
      [[], { VESSEL_CONFIG: conf }, new RegExp(`^vessel: ${conf.replace(/[.]/g, '\\.')} VESSEL_METRICS "192\\.0\\.2\\.1:9101": 192\\.0\\.2\\.1 is not a loopback address`)],
    ];
    for (const [args, env, message] of cases) {
      const r = spawnSync(process.execPath, [cli, 'up', '--vassals', w.vassals, ...args], { env: { ...w.env, ...env }, encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(125);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/hint: .*--metrics-allow-remote/);
    }
  });

  it('goes with vessel up', async () => {
    w.remove('mx-web');
    expect(await w.down(up)).toBe(0);
    await expect(get('/metrics')).rejects.toThrow(/ECONNREFUSED/);
  });
});
