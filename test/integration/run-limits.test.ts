import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupsIn, containerState, leftovers, rootWithBusybox, sleep, until, vessel, type TestRoot } from '../helpers/vessel.js';

// issue 2, "Must show": memory → OOM reported; pids stops a fork loop; cpus caps cpu time.
let t: TestRoot;

beforeAll(async () => {
  t = await rootWithBusybox('limits');
});

afterAll(() => {
  expect(leftovers(t)).toEqual([]);
  t.dispose();
});

describe('resource limits (cgroups)', () => {
  it('--memory 32M: a process allocating more is OOM-killed, reported as 137 and "out of memory"', async () => {
    const r = await vessel(t, ['run', '--name', 'oom', '--memory', '32M', 'busybox', 'sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived']);
    expect(r.code).toBe(137);
    expect(r.stdout).not.toContain('survived');
    expect(r.stderr).toMatch(/out of memory \(limit 32 MiB\)/);
    const st = containerState(t, 'oom') as { lastExit: { code: number; oomKilled: boolean; reason: string } };
    expect(st.lastExit.code).toBe(137);
    expect(st.lastExit.oomKilled).toBe(true);
    expect(cgroupsIn(t, 'oom')).toEqual([]);
    await vessel(t, ['rm', 'oom']);
  });

  it('--pids 20 stops a fork loop', async () => {
    const r = await vessel(t, ['run', '--rm', '--pids', '20', 'busybox', 'sh', '-c', 'n=0; for i in $(seq 1 60); do sleep 5 & n=$((n+1)); done; echo started=$n; ps -o pid | wc -l; kill $(jobs -p) 2>/dev/null; exit 0'], { timeoutMs: 60_000 });
    const procs = Number(r.stdout.trim().split('\n').pop());
    // the shell, ps, wc and the sleeps that fit: never more than the limit
    expect(procs).toBeLessThanOrEqual(21);
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
  });

  it('--cpus 20% caps the cpu time a busy loop gets', async () => {
    const run = await vessel(t, ['run', '-d', '--name', 'spin', '--cpus', '20%', 'busybox', 'sh', '-c', 'while :; do :; done']);
    expect(run.code).toBe(0);
    const inspect = async () => JSON.parse((await vessel(t, ['inspect', 'spin'])).stdout)[0].stats as { cpuNanos: number };
    const a = await inspect();
    const t0 = process.hrtime.bigint();
    await sleep(3000);
    const b = await inspect();
    const wallNs = Number(process.hrtime.bigint() - t0);
    const share = (b.cpuNanos - a.cpuNanos) / wallNs;
    // CFS quota 20 ms per 100 ms: a busy loop gets at most ~0.2 of a core (noise only lowers it)
    expect(share).toBeGreaterThan(0.02);
    expect(share).toBeLessThan(0.3);
    expect((await vessel(t, ['stop', '-t', '1', 'spin'])).code).toBe(0);
    await until(() => (containerState(t, 'spin') as { status: string }).status === 'exited');
    expect(cgroupsIn(t, 'spin')).toEqual([]);
    await vessel(t, ['rm', 'spin']);
  });
});
