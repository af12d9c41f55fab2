import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupRecords, containerRecords, renderExecConfig } from '../../src/runtime/linux/initconf.js';
import { describePlan, encodePlan } from '../../src/runtime/plan-records.js';
import { effectiveCapabilities, DEFAULT_CAPABILITIES, CAPABILITIES } from '../../src/runtime/linux/capabilities.js';
import { cgroupSet, type CgroupLayout } from '../../src/runtime/linux/cgroup.js';
import { parseInitLine } from '../../src/runtime/linux/channel.js';
import { commandOf, mergeEnv } from '../../src/supervise/resolve.js';
import type { ContainerConfig } from '../../src/runtime/types.js';
import { loopbackRelays } from '../../src/net/linux/relay.js';
import { parsePublish } from '../../src/spec/publish.js';
import type { ContainerSpec } from '../../src/spec/types.js';

const golden = (name: string, text: string) => {
  const f = join(__dirname, '..', 'fixtures', 'linux', name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(f, text);
  expect(text).toBe(readFileSync(f, 'utf8'));
};

/** vessel-init's NUL-separated records, one field per line, for a readable golden file. */
const show = (b: Buffer) => b.toString('utf8').split('\0').slice(0, -1).join('\n') + '\n';

const cfg: ContainerConfig = {
  name: 'web',
  runId: 'abcd1234',
  dir: '/var/lib/vessel/containers/web',
  root: { layers: ['/var/lib/vessel/images/layers/base', '/var/lib/vessel/images/layers/app'], ephemeral: false },
  argv: ['httpd', '-f', '-p', '80', '-h', '/www'],
  env: ['PATH=/bin:/usr/bin', 'GREETING=hello world'],
  workdir: '/www',
  user: 'www:www',
  hostname: 'web',
  mounts: [
    { kind: 'bind', source: '/srv/www', target: '/www', readonly: true },
    { kind: 'tmpfs', target: '/tmp', sizeBytes: 16 << 20, mode: 0o1777 },
  ],
  limits: { memoryBytes: 64 << 20, maxproc: 50, cpuPercent: 50, openfiles: 1024 },
  wait: 'all',
  tty: false,
  interactive: false,
  network: { mode: 'none' },
  stopSignal: 'SIGTERM',
  jail: {},
  security: { portacl: [], capAdd: [], capDrop: ['CHOWN'], noNewPrivileges: true },
  output: { kind: 'file', path: '/var/lib/vessel/containers/web/container.log' },
};

const V1: CgroupLayout = { version: 1, v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids', cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct' }, v2: '/sys/fs/cgroup/unified' };
const V2: CgroupLayout = { version: 2, v1: {}, v2: '/sys/fs/cgroup' };
const paths = { rootfs: `${cfg.dir}/rootfs`, upper: `${cfg.dir}/upper`, work: `${cfg.dir}/work`, scratch: `${cfg.dir}/scratch` };

describe('the monitor\'s plan: the container\'s records (native/common/plan.h)', () => {
  it('cgroups of a v1 hybrid host, layers base first, volumes, limits, capabilities (golden)', () => {
    golden('plan-web-v1.txt', describePlan(containerRecords(cfg, paths, cgroupRecords(V1, 'vessel', cfg))));
  });

  it('a v2 host: one directory serves every controller and the events (golden)', () => {
    golden('plan-web-v2.txt', describePlan(cgroupRecords(V2, 'vessel', cfg)));
  });

  it('a bridged container: the veth, its addresses (IPv6 too) and gateways, made by the monitor with netlink; the ports it relays at [::1] (br_netfilter)', () => {
    const publish = ['8080:80', '127.0.0.1:5353:53/udp', '[::1]:9000-9002:7000-7002/udp', '[fd00::2]:8445:443'].map(parsePublish);
    const bridged: ContainerConfig = {
      ...cfg,
      network: {
        mode: 'bridge', network: 'front', bridge: 'vsl-front', address: '10.77.0.5/24', gateway: '10.77.0.1', address6: 'fd00:77::5/64', gateway6: 'fd00:77::1', hostIf: 'vslh0123456789', containerIf: 'eth0',
        publish, relays: loopbackRelays(publish, 'fd00:77::5'), hosts: [], dns: [],
      },
    };
    golden('plan-web-bridge.txt', describePlan(containerRecords(bridged, paths, [])));
  });

  it('run --rm: a scratch (tmpfs) layer instead of upper/work; host network; a terminal', () => {
    const eph = { ...cfg, root: { ...cfg.root, ephemeral: true }, network: { mode: 'host' as const }, tty: true, interactive: true };
    const text = describePlan(containerRecords(eph, { rootfs: '/r', upper: '/u', work: '/w', scratch: '/s' }, []));
    expect(text).toContain('\nscratch /s\n');
    expect(text).not.toContain('\nupper ');
    expect(text).toContain('\nnet host\n');
    expect(text).toContain('\ntty 1\n');
    expect(text).toContain('\ninteractive 1\n');
  });

  it('exec: target, cgroups, argv, env (golden)', () => {
    const out = renderExecConfig(777, ['/sys/fs/cgroup/pids/vessel/web.abcd1234'], { argv: ['sh', '-c', 'echo $X'], env: ['X=1'], workdir: '/tmp', user: 'app', tty: true, interactive: true }, { capAdd: [], capDrop: [], noNewPrivileges: true });
    golden('exec-web.conf.txt', show(out));
  });

  it('values with spaces, quotes and newlines need no quoting; a NUL is refused', () => {
    const odd = { ...cfg, env: ['A=line1\nline2 "quoted" \'x\''] };
    const text = encodePlan(containerRecords(odd, paths, [])).toString('utf8');
    expect(text.startsWith('plan-version\x001\x00')).toBe(true);
    expect(text).toContain('env\0A=line1\nline2 "quoted" \'x\'\0');
    expect(() => encodePlan(containerRecords({ ...cfg, env: ['A=\0'] }, paths, []))).toThrow(/NUL/);
  });
});

describe('capabilities', () => {
  it('defaults, add, drop, ALL', () => {
    expect(effectiveCapabilities([], [])).toEqual(DEFAULT_CAPABILITIES.map((c) => CAPABILITIES[c]).sort((a, b) => a! - b!));
    expect(effectiveCapabilities(['NET_ADMIN'], [])).toContain(CAPABILITIES.NET_ADMIN);
    expect(effectiveCapabilities([], ['CAP_CHOWN'])).not.toContain(CAPABILITIES.CHOWN);
    expect(effectiveCapabilities([], ['ALL'])).toEqual([]);
    expect(effectiveCapabilities(['NET_BIND_SERVICE'], ['ALL'])).toEqual([CAPABILITIES.NET_BIND_SERVICE]);
    expect(effectiveCapabilities(['ALL'], []).length).toBe(Object.keys(CAPABILITIES).length);
    expect(() => effectiveCapabilities(['NOPE'], [])).toThrow(/unknown capability "NOPE"/);
  });
});

describe('cgroup layout', () => {
  it('v1 hybrid: a directory per controller plus the unified tree for events', () => {
    const layout: CgroupLayout = { version: 1, v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids', cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct' }, v2: '/sys/fs/cgroup/unified' };
    const set = cgroupSet(layout, 'vessel', 'web.r1');
    expect(set.dirs).toEqual([
      '/sys/fs/cgroup/memory/vessel/web.r1',
      '/sys/fs/cgroup/pids/vessel/web.r1',
      '/sys/fs/cgroup/cpu,cpuacct/vessel/web.r1', // co-mounted controllers share one directory
      '/sys/fs/cgroup/unified/vessel/web.r1',
    ]);
    expect(set.unified).toBe('/sys/fs/cgroup/unified/vessel/web.r1');
  });

  it('v2: one directory for everything', () => {
    const set = cgroupSet({ version: 2, v1: {}, v2: '/sys/fs/cgroup' }, 'vessel', 'web.r1');
    expect(set.dirs).toEqual(['/sys/fs/cgroup/vessel/web.r1']);
    expect(set.memory).toBe(set.unified);
  });
});

describe('init status channel', () => {
  it('parses every message', () => {
    expect(parseInitLine('pid 42')).toEqual({ kind: 'pid', pid: 42 });
    expect(parseInitLine('ready')).toEqual({ kind: 'ready' });
    expect(parseInitLine('main-exit 7')).toEqual({ kind: 'main-exit', code: 7 });
    expect(parseInitLine('error mount x: EPERM')).toEqual({ kind: 'error', message: 'mount x: EPERM' });
    expect(parseInitLine('notfound foo: nope')).toEqual({ kind: 'notfound', message: 'foo: nope' });
    expect(parseInitLine('garbage')).toBeUndefined();
  });
});

describe('spec → runtime', () => {
  const spec = (p: Partial<ContainerSpec>) => ({ ...p }) as ContainerSpec;
  it('docker\'s command rules: entrypoint + cmd; a spec entrypoint drops the image cmd', () => {
    expect(commandOf(spec({}), { entrypoint: ['/init'], cmd: ['serve'] })).toEqual(['/init', 'serve']);
    expect(commandOf(spec({ command: ['x'] }), { entrypoint: ['/init'], cmd: ['serve'] })).toEqual(['/init', 'x']);
    expect(commandOf(spec({ entrypoint: ['sh'] }), { entrypoint: ['/init'], cmd: ['serve'] })).toEqual(['sh']);
    expect(commandOf(spec({}), {})).toEqual([]);
  });
  it('spec env overrides image env by key, order kept', () => {
    expect(mergeEnv(['PATH=/bin', 'A=1'], [['A', '2'], ['B', '3']])).toEqual(['PATH=/bin', 'A=2', 'B=3']);
  });
});
