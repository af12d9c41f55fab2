import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideRestart, type RestartCount } from '../../src/supervise/restart.js';
import { supervisionRecords } from '../../src/supervise/plan.js';
import { containerRecords, cgroupRecords } from '../../src/runtime/linux/initconf.js';
import { encodePlan } from '../../src/runtime/plan-records.js';
import { parseMonitorStatus } from '../../src/runtime/monitor-status.js';
import type { ContainerConfig } from '../../src/runtime/types.js';
import type { ContainerSpec, RestartPolicy } from '../../src/spec/types.js';
import { parsePublish } from '../../src/spec/publish.js';
import { loopbackRelays } from '../../src/net/linux/relay.js';

/**
 * The monitor's OS-independent C (native/common: plan parser, restart table, status record, log
 * escaping, service framing) driven through native/test/probe.c, built here with the warnings the
 * real build uses and AddressSanitizer/UBSan, and compared with what TypeScript renders and
 * decides. A missing compiler fails the test.
 */
const repo = join(__dirname, '..', '..');
const out = mkdtempSync(join(tmpdir(), 'vessel-native-common-'));
const probe = join(out, 'probe');
afterAll(() => rmSync(out, { recursive: true, force: true }));

beforeAll(() => {
  const common = ['plan', 'restart', 'say', 'service', 'status', 'at', 'direct'].map((f) => join(repo, 'native', 'common', `${f}.c`));
  execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', '-Wno-format-truncation', '-g',
    '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', probe, join(repo, 'native', 'test', 'probe.c'), ...common], { stdio: 'pipe' });
});

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(probe, args, { encoding: 'utf8', env: { ASAN_OPTIONS: 'detect_leaks=0', PATH: process.env.PATH ?? '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const spec = {
  name: 'web', stopSignal: 'SIGQUIT', stopTimeout: 7, minUptime: 2, restart: { mode: 'on-failure', maxRetries: 3 },
} as unknown as ContainerSpec;
const cfg: ContainerConfig = {
  name: 'web', runId: 'abcd1234', dir: '/var/lib/vessel/containers/web',
  root: { layers: ['/l/base', '/l/app'], ephemeral: false }, argv: ['httpd', '-f', 'a b'], env: ['A=1', 'B=x\ny'],
  workdir: '/', user: '', hostname: 'web', mounts: [], limits: { memoryBytes: 64 << 20, maxproc: 50 }, wait: 'all',
  tty: false, interactive: false, network: { mode: 'none' }, stopSignal: 'SIGQUIT', jail: {},
  security: { portacl: [], capAdd: [], capDrop: [], noNewPrivileges: true }, output: { kind: 'inherit' },
  health: { argv: ['/bin/sh', '-c', 'true'], intervalMs: 1000, timeoutMs: 500, retries: 2, startPeriodMs: 0, onUnhealthy: 'restart' },
};
const layout = { version: 1 as const, v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids' }, v2: '/sys/fs/cgroup/unified' };

function planFile(name: string, content: Buffer): string {
  const f = join(out, name);
  writeFileSync(f, content);
  return f;
}

describe('native/common under ASan/UBSan', () => {
  it('reads the plan TypeScript renders: supervision and container records', () => {
    const records = [
      ...supervisionRecords(spec, cfg, { mode: 'detached', statusPath: '/s', stopMarker: '/m', service: '/run/vessel.sock', releaseArgv: ['/usr/bin/node', 'vessel.js', '_release', 'web'] }),
      ...containerRecords(cfg, { rootfs: '/r', upper: '/u', work: '/w', scratch: '/s' }, cgroupRecords(layout, 'vessel', cfg)),
    ];
    const r = run(['plan', planFile('good', encodePlan(records))]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ok name=web mode=1 restart=2 max=3 stop_signal=3 stop_timeout_ms=7000 backoff=100/60000/10000 cgroups=3 writes=4 lowers=2 args=3 env=2 caps=13 health_args=3 arg=httpd arg=-f arg=a b\n');
  });

  it('refuses a plan it cannot trust, in one line: no version, another version, an unknown key, a truncated record, too many items', () => {
    const text = (s: string) => Buffer.from(s.replace(/\|/g, '\0'));
    expect(run(['plan', planFile('nover', text('name|web|'))]).stdout).toBe('error plan: does not start with plan-version\n');
    expect(run(['plan', planFile('v2', text('plan-version|2|'))]).stdout).toBe('error plan: version 2, this monitor reads 1 (rebuild: npm run build)\n');
    expect(run(['plan', planFile('unknown', text('plan-version|1|frobnicate|1|'))]).stdout).toBe('error plan: unknown key "frobnicate" (a plan from a newer vessel?)\n');
    expect(run(['plan', planFile('trunc', text('plan-version|1|bind|/a|/b|'))]).stdout).toBe('error plan: record bind is truncated\n');
    expect(run(['plan', planFile('num', text('plan-version|1|stop-signal|99|'))]).stdout).toMatch(/^error plan: stop-signal: "99" is not a number in \[1, 64\]\n$/);
    expect(run(['plan', planFile('many', text(`plan-version|1|${'lower|/l|'.repeat(300)}`))]).stdout).toBe('error plan: too many image layers (at most 256)\n');
    expect(run(['plan', join(out, 'absent')]).stdout).toMatch(/^error cannot open plan .*absent: No such file or directory\n$/);
  });

  it('reads the relays TypeScript renders (br_netfilter hosts: [::1]) and refuses a relay it cannot bind in one line', () => {
    const publish = ['8080:80', '[::1]:9000-9002:7000-7002/udp', '127.0.0.1:53:53/udp'].map(parsePublish);
    const bridged: ContainerConfig = {
      ...cfg,
      network: { mode: 'bridge', network: 'n', bridge: 'vsl-n', address: '10.77.0.5/24', gateway: '10.77.0.1', address6: 'fd00:77::5/64', gateway6: 'fd00:77::1', hostIf: 'vslh', containerIf: 'eth0', publish, relays: loopbackRelays(publish, 'fd00:77::5'), hosts: [], dns: [] },
    };
    const r = run(['plan', planFile('relays', encodePlan(containerRecords(bridged, { rootfs: '/r', upper: '/u', work: '/w', scratch: '/s' }, [])))]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/ relay=tcp:\[::1\]:8080>\[fd00:77::5\]:80x1 relay=udp:\[::1\]:9000>\[fd00:77::5\]:7000x3\n$/);
    const text = (t: string) => Buffer.from(t.replace(/\|/g, '\0'));
    expect(run(['plan', planFile('rp', text('plan-version|1|relay|sctp|::1|80|::2|80|1|'))]).stdout).toBe('error plan: relay: unknown protocol "sctp"\n');
    expect(run(['plan', planFile('ra', text('plan-version|1|relay|tcp|127.0.0.1|80|::2|80|1|'))]).stdout).toBe('error plan: relay: "127.0.0.1" is not an IPv6 address\n');
    expect(run(['plan', planFile('rr', text('plan-version|1|relay|udp|::1|65000|::2|80|600|'))]).stdout).toBe('error plan: relay: 600 ports from 65000 or 80 pass 65535\n');
    expect(run(['plan', planFile('rt', text('plan-version|1|relay|udp|::1|65000|::2|'))]).stdout).toBe('error plan: record relay is truncated\n');
  });

  it('every prefix of a real plan is parsed or refused, never a crash (ASan/UBSan watch)', () => {
    const full = encodePlan([...supervisionRecords(spec, cfg, { mode: 'foreground', statusPath: '/s', stopMarker: '/m' }), ...containerRecords(cfg, { rootfs: '/r', upper: '/u', work: '/w', scratch: '/s' }, [])]);
    for (let n = 0; n < full.length; n += 7) {
      const r = run(['plan', planFile('prefix', full.subarray(0, n))]);
      expect(r.code === 0 || r.code === 1, `prefix ${n}: ${r.stderr}`).toBe(true);
      expect(r.stderr).toBe('');
    }
  });

  it('decides restarts exactly as supervise/restart.ts does (one table, two evaluators)', () => {
    const policies: Array<[RestartPolicy, string, string]> = [
      [{ mode: 'no' }, 'no', '-1'], [{ mode: 'always' }, 'always', '-1'], [{ mode: 'on-failure' }, 'on-failure', '-1'], [{ mode: 'on-failure', maxRetries: 2 }, 'on-failure', '2'],
    ];
    const args: string[] = [];
    const want: string[] = [];
    for (const [policy, mode, max] of policies) {
      for (const code of [0, 1, 137]) {
        for (const before of [{ failures: 0, quickDeaths: 0 }, { failures: 2, quickDeaths: 5 }, { failures: 3, quickDeaths: 20 }] as RestartCount[]) {
          for (const uptime of [0, 9_999, 10_000, 60_000]) {
            args.push(mode, max, String(code), String(before.failures), String(before.quickDeaths), String(uptime));
            const d = decideRestart(policy, { code }, before, uptime);
            want.push(`${d.restart ? 1 : 0} ${d.delayMs} ${d.count.failures} ${d.count.quickDeaths}`);
          }
        }
      }
    }
    const r = run(['restart', ...args]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(want);
  });

  it('writes a status record TypeScript reads back: one value per line, a line break never starts a key', () => {
    const f = join(out, 'monitor.status');
    expect(run(['status', f]).code).toBe(0);
    const st = parseMonitorStatus(readFileSync(f, 'utf8'))!;
    expect(st).toMatchObject({ runId: 'abcd', phase: 'running', run: 2, initPid: 42, relayPid: 43, leaf: 't.abcdr2', code: 137, reason: 'line one line two', note: 'waiting for db' });
    expect(st.health).toEqual({ status: 'healthy', failingStreak: 0, log: [{ start: new Date(1000).toISOString(), end: new Date(2000).toISOString(), exitCode: 0, output: 'ok' }] });
  });

  it('escapes log text as JSON strings', () => {
    expect(run(['escape', 'a "b" \\ c\nd\te\x01']).stdout).toBe('a \\"b\\" \\\\ c\\nd\\u0009e\\u0001\n');
  });

  describe('service framing against a real socket', () => {
    let server: Server;
    const sock = join(out, 'svc.sock');
    beforeAll(async () => {
      server = createServer((c) => {
        c.on('error', () => undefined); // the probe may go while a reply is on its way
        c.setEncoding('utf8');
        c.on('data', (d: string) => {
          for (const line of d.split('\n').filter(Boolean)) {
            if (line === 'long') c.write('x'.repeat(5000) + '\n');
            else if (line === 'close') c.end();
            else if (line === 'silent') { /* never answers */ }
            else if (line === 'split') { c.write('pl'); setTimeout(() => c.write('an /p\n'), 50); }
            else c.write(`echo ${line}\n`);
          }
        });
      });
      await new Promise<void>((res) => server.listen(sock, res));
    });
    afterAll(() => new Promise<void>((res) => server.close(() => res())));

    // The server lives in this process: the probe runs asynchronously so the event loop can answer.
    const ask = (args: string[]): Promise<string> =>
      new Promise((res) => {
        const c = spawn(probe, ['service', ...args], { env: { ASAN_OPTIONS: 'detect_leaks=0' } });
        let o = '';
        c.stdout.on('data', (d: Buffer) => (o += d.toString()));
        c.stderr.on('data', (d: Buffer) => (o += d.toString()));
        c.on('close', () => res(o));
      });

    it('one reply per request, a reply split across reads, then the failures: too long, closed, silent', async () => {
      expect(await ask([sock, 'hello', 'split'])).toBe('reply echo hello\nreply plan /p\n');
      expect(await ask([sock, 'long'])).toBe('broken the service sent a line longer than 4096 bytes\n');
      expect(await ask([sock, 'close'])).toBe('broken the service closed the connection\n');
      expect(await ask([sock, 'silent'])).toBe('timeout\n');
      expect(await ask([join(out, 'nobody.sock'), 'x'])).toMatch(/^error vessel up is not running \(no service at .*nobody\.sock\)\n$/);
    });
  });
});
