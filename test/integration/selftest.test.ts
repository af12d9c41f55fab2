import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupParentOf, cgroupsIn, leftovers, rootWithBusybox, until, vessel, vesselSpawn, type TestRoot } from '../helpers/vessel.js';
import { CONTRACT_CASES } from '../../src/selftest/index.js';
import { ownInterfaces, nftTableExists, removeNetworkLeftovers } from '../helpers/net.js';
import { nftTableName } from '../../src/net/names.js';

// `vessel doctor` and `vessel selftest` run for real on this Linux host; the selftest is killed
// with SIGKILL in the middle of a case and `vessel gc` (or the next selftest) must leave nothing.
let t: TestRoot;

beforeAll(async () => {
  t = await rootWithBusybox('selftest');
});

const names = CONTRACT_CASES.map((c) => `selftest-${c.id}`);

/** The selftest network's bridge and the cases' veths of this root, and its nft table, that exist now. */
async function networkLeft(): Promise<string[]> {
  const scope = join(t.root, 'networks');
  return [...(await ownInterfaces(scope, ['selftest'], names)), ...(nftTableExists(nftTableName(scope)) ? ['nft table'] : [])];
}

afterAll(async () => {
  const left = names.flatMap((n) => leftovers(t, n));
  const net = await removeNetworkLeftovers(t.root, ['selftest'], names);
  t.dispose();
  expect(left).toEqual([]);
  expect(net).toEqual({ interfaces: [], table: false });
});

/** The cgroup subtree directories of a state root that exist on this host (any controller). */
function cgroupSubtrees(root: string): string[] {
  const base = '/sys/fs/cgroup';
  const dirs = existsSync(join(base, 'cgroup.controllers')) ? [join(base, cgroupParentOf(root))] : readdirSync(base).map((c) => join(base, c, cgroupParentOf(root)));
  return dirs.filter((d) => existsSync(d));
}

const selftestDirs = () => (existsSync(join(t.root, 'containers')) ? readdirSync(join(t.root, 'containers')).filter((d) => d.startsWith('selftest-')) : []);

/** How /proc/mounts says the cgroup trees are mounted: read independently of doctor's own probe. */
function cgroupKind(): string {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  if (mounts.some((m) => m[1] === '/sys/fs/cgroup' && m[2] === 'cgroup2')) return 'v2';
  return mounts.some((m) => m[1] === '/sys/fs/cgroup/unified' && m[2] === 'cgroup2') ? 'v1 (hybrid' : 'v1';
}

describe('vessel doctor (real Linux probes)', () => {
  it('--json lists every Linux feature with what this host has', async () => {
    const r = await vessel(t, ['doctor', '--json']);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as { os: string; checks: Array<{ id: string; status: string; detail: string; fix?: string }> };
    expect(doc.os).toBe('linux');
    expect(doc.checks.map((c) => c.id)).toEqual(['namespaces', 'cgroups', 'overlayfs', 'nftables', 'userns', 'vessel-init', 'gzip', 'uwsgi', 'node']);
    const by = Object.fromEntries(doc.checks.map((c) => [c.id, c]));
    expect(by.cgroups!.detail.startsWith(cgroupKind())).toBe(true);
    expect(by.cgroups!.detail).toMatch(/memory.*pids.*cpu/);
    expect(by.overlayfs!.status).toBe('ok');
    expect(by.nftables!.detail).toBe(execFileSync('nft', ['--version'], { encoding: 'utf8' }).trim());
    expect(by.uwsgi!.detail).toBe(`uwsgi ${execFileSync('uwsgi', ['--version'], { encoding: 'utf8' }).trim()}`);
    expect(by.node!.detail).toBe(`node ${process.version}`);
    expect(by.gzip!).toMatchObject({ status: 'ok', detail: 'igzip (ISA-L)' });
    // Everything the test suite itself needs is here, so nothing is missing, and the exit says so.
    expect(doc.checks.filter((c) => c.status === 'missing')).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('prints one line per feature', async () => {
    const r = await vessel(t, ['doctor']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('vessel doctor: can this Linux host run each feature?');
    expect(lines.filter((l) => /^ {2}(ok|warn|MISSING|info) /.test(l))).toHaveLength(9);
  });
});

describe('vessel selftest (real driver contract on this host)', () => {
  it('passes every case, each in its own container, writes a report and leaves nothing', async () => {
    const report = join(t.root, 'report.txt');
    const r = await vessel(t, ['selftest', '--report', report], { timeoutMs: 300_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // every feature PASSes for real here; vmemory (rctl's, FreeBSD only) is SKIP with its reason
    const lines = r.stdout.split('\n');
    for (const c of CONTRACT_CASES.filter((x) => x.id !== 'vmemory')) expect(lines).toContain(`PASS  ${c.feature}  [selftest-${c.id}]`);
    expect(r.stdout).toMatch(/^SKIP  .*\[selftest-vmemory\]\n {6}vmemory is rctl\(8\)'s vmemoryuse; Linux has no cgroup for address space/m);
    const text = readFileSync(report, 'utf8');
    expect(text).toContain('image busybox:latest (sha256:');
    expect(text).toContain(`${CONTRACT_CASES.length - 1} passed, 0 failed, 1 skipped`);
    expect(text).toContain('vessel doctor: can this Linux host run each feature?');
    expect(selftestDirs()).toEqual([]);
    expect(leftovers(t, 'selftest-resources')).toEqual([]);
    // not even the empty cgroup subtree of this (private) state root, nor the network cases' bridge or rules
    expect(cgroupSubtrees(t.root)).toEqual([]);
    expect(await networkLeft()).toEqual([]);
  });

  it('SIGKILLed in the middle of a case: vessel gc removes its container', async () => {
    const child = vesselSpawn(t, ['selftest'], { env: { VESSEL_SELFTEST_HOLD: 'resources' } });
    await until(() => child.output().includes('holds selftest-resources'), 30_000, 'the selftest to hold');
    expect(cgroupsIn(t, 'selftest-resources').length).toBeGreaterThan(0);
    expect(selftestDirs()).toEqual(['selftest-resources']);
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
    const gc = await vessel(t, ['gc']);
    expect(gc.code).toBe(0);
    expect(gc.stdout).toContain('cleaned selftest-resources');
    expect(gc.stdout).toContain('removed selftest-resources');
    expect(leftovers(t, 'selftest-resources')).toEqual([]);
    expect(cgroupsIn(t, 'selftest-resources')).toEqual([]);
    expect(selftestDirs()).toEqual([]);
  });

  it('SIGKILLed while a published port\'s container runs: vessel gc releases its lease, and the network goes with it', async () => {
    const child = vesselSpawn(t, ['selftest', '--case', 'publish'], { env: { VESSEL_SELFTEST_HOLD: 'publish' } });
    await until(() => child.output().includes('holds selftest-publish'), 30_000, 'the selftest to hold');
    expect(await networkLeft()).not.toEqual([]);
    expect(existsSync(join(t.root, 'networks', 'selftest', 'network.json'))).toBe(true);
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
    const gc = await vessel(t, ['gc']);
    expect(gc.code).toBe(0);
    expect(gc.stdout).toContain('cleaned selftest-publish');
    expect(leftovers(t, 'selftest-publish')).toEqual([]);
    expect(await networkLeft()).toEqual([]);
    expect(existsSync(join(t.root, 'networks', 'selftest', 'network.json'))).toBe(false);
    expect(selftestDirs()).toEqual([]);
  });

  it('SIGKILLed in the network case: no probe, lease, bridge or rule of it is left', async () => {
    const child = vesselSpawn(t, ['selftest', '--case', 'network'], { env: { VESSEL_SELFTEST_HOLD: 'network' } });
    await until(() => child.output().includes('holds selftest-network'), 30_000, 'the selftest to hold');
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
    // the host's probe has answered the container, or reads EOF on its stdin (selftest-probe.test.ts)
    await until(() => leftovers(t).every((l) => !l.includes('vessel-probe')), 10_000, 'the host listener to end');
    const gc = await vessel(t, ['gc']);
    expect(gc.code).toBe(0);
    expect(leftovers(t, 'selftest-network')).toEqual([]);
    expect(await networkLeft()).toEqual([]);
    expect(selftestDirs()).toEqual([]);
  });

  it('SIGTERM in the middle of a case: it removes that case\'s container itself before exiting', async () => {
    const child = vesselSpawn(t, ['selftest'], { env: { VESSEL_SELFTEST_HOLD: 'leftovers' } });
    await until(() => child.output().includes('holds selftest-leftovers'), 30_000, 'the selftest to hold');
    expect(cgroupsIn(t, 'selftest-leftovers').length).toBeGreaterThan(0);
    const gone = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    child.kill('SIGTERM');
    expect(await gone).toBe(143);
    expect(leftovers(t, 'selftest-leftovers')).toEqual([]);
    expect(selftestDirs()).toEqual([]);
  });

  it('SIGKILLed: the next selftest removes the leftovers first, then passes', async () => {
    const child = vesselSpawn(t, ['selftest'], { env: { VESSEL_SELFTEST_HOLD: 'leftovers' } });
    await until(() => child.output().includes('holds selftest-leftovers'), 30_000, 'the selftest to hold');
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
    const r = await vessel(t, ['selftest', '--json'], { timeoutMs: 300_000 });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { swept: string[]; results: Array<{ id: string; ok: boolean; status: string }> };
    expect(out.swept).toEqual(['selftest-leftovers']);
    expect(out.results.every((c) => c.ok)).toBe(true);
    // passing, not only not failing: every case but vmemory (FreeBSD's rctl only) ran and passed
    expect(out.results.filter((c) => c.status !== 'pass').map((c) => c.id)).toEqual(['vmemory']);
    expect(leftovers(t, 'selftest-leftovers')).toEqual([]);
    expect(selftestDirs()).toEqual([]);
  });
});
