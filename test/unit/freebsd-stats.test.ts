import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { setHostRunner } from '../../src/util/host.js';
import { FreeBSDDriver } from '../../src/runtime/freebsd/index.js';
import { parseEpairTraffic, parseRctlLimits, parseRctlUsage } from '../../src/runtime/freebsd/usage.js';
import { formatStats, statsRow } from '../../src/supervise/stats.js';
import { bridgeNet, expectGolden, FakeFreeBSD, freebsdConfig, normalizeRoot } from '../helpers/freebsd.js';

/**
 * `vessel stats` on FreeBSD (issue 16), from the tools a FreeBSD host has: racct's usage of the
 * jail (`rctl -u jail:NAME`, rctl(8)), the limits vessel set (`rctl jail:NAME`), the jail's
 * existence (`jls -j NAME jid`, jls(8)) and the traffic of its epair's host end (`netstat -I IF
 * -b`, netstat(1)). Golden: test/fixtures/freebsd/stats/.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-stats-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));
let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

/**
 * `rctl -u jail:web` on FreeBSD 14 with kern.racct.enable=1: every resource of rctl(8)'s
 * RESOURCES in kern_rctl.c's order (resourcenames[]), amounts as `%jd` — no units without -h.
 */
const RCTL_U: Array<[string, number]> = [
  ['cputime', 37], ['datasize', 2_256_896], ['stacksize', 0], ['coredumpsize', 0], ['memoryuse', 9_834_496],
  ['memorylocked', 0], ['maxproc', 4], ['openfiles', 96], ['vmemoryuse', 30_969_856], ['pseudoterminals', 0],
  ['swapuse', 0], ['nthr', 4], ['msgqqueued', 0], ['msgqsize', 0], ['nmsgq', 0], ['nsem', 0], ['nsemop', 0],
  ['nshm', 0], ['shmsize', 0], ['wallclock', 1234], ['pcpu', 12], ['readbps', 40_960], ['writebps', 1_048_576],
  ['readiops', 10], ['writeiops', 256],
];
const rctlText = RCTL_U.map(([k, v]) => `${k}=${v}\n`).join('');

describe('parsers, against the tools\' own output', () => {
  it('rctl -u: memoryuse (RSS, bytes), maxproc (processes), cputime (whole seconds), pcpu (% of one core), readbps/writebps (bytes per second)', () => {
    expect(parseRctlUsage(rctlText)).toEqual({
      memoryBytes: 9_834_496, pids: 4, cpuNanos: 37e9, cpuPercent: 12, blockReadBps: 40_960, blockWriteBps: 1_048_576,
    });
    // without RACCT rctl prints nothing it can parse: no fields, not zeros
    expect(parseRctlUsage('rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable\n')).toEqual({});
  });
  it('rctl jail:NAME: the deny amounts vessel added (memoryuse, maxproc), also with an explicit /jail per', () => {
    expect(parseRctlLimits('jail:web:memoryuse:deny=67108864\njail:web:maxproc:deny=50/jail\njail:web:pcpu:deny=50\n')).toEqual({ memoryLimitBytes: 67_108_864, pidsLimit: 50 });
    expect(parseRctlLimits('')).toEqual({});
  });
  it('netstat -I IF -b --libxo json: the <Link#N> entry, seen from the jail (the host end received what the jail sent)', () => {
    const doc = JSON.stringify({
      statistics: {
        interface: [
          { name: 'vsl4b5e57f6a', network: '<Link#5>', 'received-bytes': 5000, 'sent-bytes': 7000 },
          { name: 'vsl4b5e57f6a', network: '10.77.3.0/24', 'received-bytes': 1, 'sent-bytes': 2 },
        ],
      },
    });
    expect(parseEpairTraffic(doc, 'vsl4b5e57f6a')).toEqual({ netRxBytes: 7000, netTxBytes: 5000 });
    expect(parseEpairTraffic(doc, 'other')).toEqual({});
    expect(parseEpairTraffic('not json', 'x')).toEqual({});
  });
});

describe('the FreeBSD driver\'s stats()', () => {
  const cfg = () => freebsdConfig(root, { name: 'web', network: bridgeNet('web', '10.77.3.5/24'), limits: { memoryBytes: 64 << 20, maxproc: 50 } });

  it('a running jail: jls, rctl -u, its rules, its epair — golden transcript and the stats line', async () => {
    const fake = new FakeFreeBSD();
    const d = new FreeBSDDriver({ env: {} });
    const resources = d.resources(cfg());
    const hostIf = resources.find((r) => r.kind === 'interface')!.id;
    fake.jails.set('web', { jid: 7, path: join(root, 'containers', 'web', 'rootfs'), mounts: [] });
    fake.procs.set('web', [4242, 4243, 4250, 4251]);
    fake.usage.set('web', RCTL_U);
    fake.rctl.push('jail:web:memoryuse:deny=67108864', 'jail:web:maxproc:deny=50');
    fake.interfaces.add(hostIf);
    fake.ifBytes.set(hostIf, { received: 5000, sent: 7000 });
    restore = setHostRunner(fake);
    const stats = await d.stats({ name: 'web', pid: 4242, resources });
    expect(stats).toEqual({
      memoryBytes: 9_834_496, memoryLimitBytes: 67_108_864, pids: 4, pidsLimit: 50, cpuNanos: 37e9, cpuPercent: 12,
      blockReadBps: 40_960, blockWriteBps: 1_048_576, netRxBytes: 7000, netTxBytes: 5000,
    });
    expectGolden('stats', 'commands.txt', normalizeRoot(fake.transcript(), root));
    const row = statsRow('web', { name: 'web', runId: 'run1', at: 2000, stats }, undefined, 8 << 30);
    expectGolden('stats', 'stats.txt', formatStats([row]));
  });

  it('a jail that is gone: one jls, nothing else, no usage', async () => {
    const fake = new FakeFreeBSD();
    restore = setHostRunner(fake);
    const d = new FreeBSDDriver({ env: {} });
    expect(await d.stats({ name: 'web', resources: d.resources(cfg()) })).toEqual({});
    expect(fake.transcript()).toBe('jls -j web jid\n');
  });

  it('without RACCT: the processes are counted with ps -J', async () => {
    const fake = new FakeFreeBSD();
    fake.jails.set('web', { jid: 7, path: '/x', mounts: [] });
    fake.procs.set('web', [4242, 4243]);
    restore = setHostRunner(fake);
    const real = fake.run.bind(fake);
    fake.run = async (argv, opts) => (argv[0] === 'rctl' ? { argv, exitCode: 1, stdout: '', stderr: 'rctl: RACCT/RCTL present, but disabled\n' } : real(argv, opts));
    const d = new FreeBSDDriver({ env: {} });
    expect(await d.stats({ name: 'web', resources: [] })).toEqual({ pids: 2 });
  });
});
