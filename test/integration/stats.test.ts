import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftovers, rootWithBusybox, until, vessel, vesselSpawn, type TestRoot } from '../helpers/vessel.js';
import { freePort, netTestsCanRun, waitHttp } from '../helpers/net.js';
import type { StatsRow } from '../../src/supervise/stats.js';

/**
 * Issue 16: `vessel stats` against real containers — a busy one (a CPU loop, a 16 MiB fsynced
 * write, HTTP traffic through its published port) and an idle one with limits — on this host's
 * cgroups (v1 hybrid here, v2 elsewhere) and the containers' own network namespaces.
 */
const canRun = netTestsCanRun();
let t: TestRoot;
const port = freePort();
const MiB = 1024 * 1024;

type Row = StatsRow;

async function ok(args: string[]): Promise<string> {
  const r = await vessel(t, args);
  if (r.code !== 0) throw new Error(`vessel ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Block counters mean something only where the container's files are on a block device. */
function onBlockDevice(path: string): boolean {
  return !['tmpfs', 'ramfs', 'overlayfs'].includes(execFileSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).trim());
}

describe.runIf(canRun)('vessel stats', () => {
  beforeAll(async () => {
    t = await rootWithBusybox('stats');
    await ok(['run', '-d', '--name', 'busy', '--network', 'statsnet', '-p', `${port}:80`, 'busybox', 'sh', '-c',
      'httpd -p 80 -h /www; dd if=/dev/zero of=/var/big bs=1M count=16 conv=fsync 2>/dev/null; touch /var/written; while :; do :; done']);
    await ok(['run', '-d', '--name', 'idle', '--memory', '64M', '--pids', '20', 'busybox', 'sleep', '600']);
    await ok(['run', '--name', 'done', 'busybox', 'true']);
    await until(async () => (await vessel(t, ['exec', 'busy', 'test', '-e', '/var/written'])).code === 0, 30_000, 'the write');
    for (let i = 0; i < 5; i++) expect((await waitHttp(`http://127.0.0.1:${port}/`)).body).toBe('hello from vessel\n');
  });

  afterAll(async () => {
    if (!t) return;
    for (const n of ['busy', 'idle', 'done']) await vessel(t, ['rm', '-f', n]);
    expect(leftovers(t)).toEqual([]);
    t.dispose();
  });

  it('--no-stream --json NAME: CPU %, memory, network and block I/O, processes of a busy container', async () => {
    const rows = JSON.parse(await ok(['stats', '--no-stream', '--json', 'busy'])) as Row[];
    expect(rows).toHaveLength(1);
    const r = rows[0]!;
    expect(r.name).toBe('busy');
    // a shell spinning: most of a core (a loaded host gives it less, never nothing)
    expect(r.cpuPercent).toBeGreaterThan(5);
    expect(r.memoryBytes).toBeGreaterThan(0);
    // no limit: the host's memory is the limit, as docker shows it
    expect(r.memoryLimitBytes).toBeGreaterThan(r.memoryBytes!);
    expect(r.memoryPercent).toBeGreaterThanOrEqual(0);
    // sh, httpd (and the container's init and monitor, which live in its cgroups)
    expect(r.pids).toBeGreaterThanOrEqual(2);
    // five HTTP exchanges went through eth0 both ways
    expect(r.netRxBytes).toBeGreaterThan(5 * 60);
    expect(r.netTxBytes).toBeGreaterThan(5 * 18);
    expect(typeof r.blockReadBytes).toBe('number');
    if (onBlockDevice(t.root)) expect(r.blockWriteBytes).toBeGreaterThanOrEqual(16 * MiB);
  });

  it('without names: every running container, with its limits; not the exited one', async () => {
    const rows = JSON.parse(await ok(['stats', '--no-stream', '--json'])) as Row[];
    expect(rows.map((r) => r.name).sort()).toEqual(['busy', 'idle']);
    const idle = rows.find((r) => r.name === 'idle')!;
    expect(idle.memoryLimitBytes).toBe(64 * MiB);
    expect(idle.pidsLimit).toBe(20);
    expect(idle.cpuPercent).toBeLessThan(5);
    // --network none: nothing but loopback, which is not counted
    expect([idle.netRxBytes ?? 0, idle.netTxBytes ?? 0]).toEqual([0, 0]);
    const table = await ok(['stats', '--no-stream']);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    expect(table).toMatch(/^busy\s+\d+\.\d\d%\s+\S+ \S?B \/ \S+ \S?B\s+\d+\.\d\d%\s+\S+ \S?B \/ \S+ \S?B\s+\S+ \S?B \/ \S+ \S?B\s+\d+$/m);
    expect(table).toMatch(/^idle\s+\d+\.\d\d%\s+\S+ \S?B \/ 67\.1 MB\s/m);
    expect(table).not.toMatch(/^done\s/m);
  });

  it('streaming --json: one JSON document per sample, until interrupted', async () => {
    const child = vesselSpawn(t, ['stats', '--json', 'busy']);
    try {
      await until(() => child.output().split('\n').filter(Boolean).length >= 2, 20_000, 'two samples');
      const lines = child.output().split('\n').filter(Boolean).slice(0, 2).map((l) => JSON.parse(l) as Row[]);
      for (const rows of lines) expect(rows.map((r) => r.name)).toEqual(['busy']);
      expect(lines[1]![0]!.cpuPercent).toBeGreaterThan(5);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('close', r));
    }
  });

  it('an unknown name: one line, exit 125', async () => {
    const r = await vessel(t, ['stats', '--no-stream', 'nosuch']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^vessel: no such container: nosuch\n/);
  });
});
