import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cgroupCheck, gzipCheck } from '../../src/doctor/linux.js';
import { renderDoctor } from '../../src/doctor/index.js';

// The cgroup probe on trees laid out as the kernel mounts them (the real host's is checked by
// test/integration/selftest.test.ts): v2 with and without controllers, v1 hybrid, v1 missing one.
const tmp = mkdtempSync(join(tmpdir(), 'vessel-doctor-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string>): string {
  const base = join(tmp, name);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(base, f, '..'), { recursive: true });
    writeFileSync(join(base, f), text);
  }
  return base;
}

describe('doctor: cgroups', () => {
  it('v2 with memory, pids and cpu', () => {
    const c = cgroupCheck(tree('v2', { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma\n' }));
    expect(c).toEqual({ id: 'cgroups', feature: 'limits (cgroups: memory, pids, cpu)', status: 'ok', detail: 'v2, controllers: cpuset cpu io memory hugetlb pids rdma' });
  });

  it('v2 without pids: missing, with the subtree_control line', () => {
    const base = tree('v2-nopids', { 'cgroup.controllers': 'cpu memory\n' });
    const c = cgroupCheck(base);
    expect(c.status).toBe('missing');
    expect(c.detail).toBe('v2 without pids');
    expect(c.fix).toBe(`enable them: echo "+pids" > ${base}/cgroup.subtree_control`);
  });

  it('v1 hybrid (this project\'s machines)', () => {
    const c = cgroupCheck(tree('hybrid', { 'memory/cgroup.procs': '', 'pids/cgroup.procs': '', 'cpu/cgroup.procs': '', 'unified/cgroup.procs': '' }));
    expect(c.detail).toBe('v1 (hybrid, v2 at unified/), controllers: memory pids cpu');
  });

  it('v1 without memory: missing, and the screen shows the fix under it', () => {
    const c = cgroupCheck(tree('v1-nomem', { 'pids/cgroup.procs': '', 'cpu/cgroup.procs': '' }));
    expect(c.status).toBe('missing');
    expect(renderDoctor({ os: 'linux', checks: [c] })).toBe([
      'vessel doctor: can this Linux host run each feature?',
      '',
      '  MISSING  limits (cgroups: memory, pids, cpu)  v1 without memory',
      '                                                -> mount the missing v1 controllers, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)',
      '',
      '1 missing, 0 with limits',
      '',
    ].join('\n'));
  });
});

describe('doctor: gzip', () => {
  it('igzip installed: ok; without it a warning (GNU gzip works, slower) with the package to install', () => {
    expect(gzipCheck(true)).toMatchObject({ id: 'gzip', status: 'ok', detail: 'igzip (ISA-L)' });
    expect(gzipCheck(false)).toMatchObject({ id: 'gzip', status: 'warn', fix: 'apt-get install isal (sh scripts/setup.sh does it)' });
  });
});
