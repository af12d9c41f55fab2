import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmperorWorld, pidAlive, requireHost, serviceSpec, waitFor, type UpProcess } from '../helpers/emperor.js';

// Crash loops, dead heartbeats and a SIGKILLed Emperor, with the real uWSGI.
requireHost();
const w = new EmperorWorld('emp-fail');
// Short knobs so the test sees several back-off steps and a heartbeat timeout in seconds.
const upFlags = ['--throttle', '500', '--max-throttle', '5000', '--required-heartbeat', '3'];
let up: UpProcess;

beforeAll(async () => {
  w.importBusybox();
  up = await w.up(upFlags);
});

afterAll(async () => {
  await w.cleanup();
});

describe('failures under the Emperor', () => {
  it('crash loop → respawn intervals grow (back-off), no fork storm', async () => {
    w.drop('ef-crash', serviceSpec([], "sh -c 'exit 1'"));
    // Each run's own start time, from its state file: not the time this loop happened to look.
    const runs = new Map<number, number>();
    const throttle: number[] = [];
    const until = Date.now() + 9000;
    while (Date.now() < until) {
      const st = w.state('ef-crash');
      if (st?.startedAt !== undefined && !runs.has(st.restarts)) runs.set(st.restarts, Date.parse(st.startedAt));
      const b = (await w.fetchStats())?.blacklist.find((x) => x.id === 'ef-crash.vessel');
      if (b && throttle[throttle.length - 1] !== b.throttle_level) throttle.push(b.throttle_level);
      await sleep(50);
    }
    // The Emperor's respawn delay grows with every unloyal death …
    expect(throttle.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < throttle.length; i++) expect(throttle[i]!).toBeGreaterThan(throttle[i - 1]!);
    // … so nine seconds hold only a handful of starts (no fork storm) …
    const restarts = w.state('ef-crash')!.restarts;
    expect(restarts).toBeGreaterThanOrEqual(3);
    expect(restarts).toBeLessThan(15);
    // … and by the last ones a start waits at least a second after the one before (a lower
    // bound the Emperor guarantees: it cannot respawn before the delay ran out).
    const seen = [...runs.keys()].sort((a, b) => a - b);
    const pairs = seen.slice(1).filter((r) => runs.has(r - 1)).map((r) => runs.get(r)! - runs.get(r - 1)!);
    expect(pairs.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...pairs)).toBeGreaterThanOrEqual(1000);
    expect(w.state('ef-crash')!.lastExit?.code).toBe(1);
    const row = w.ps().containers.find((c) => c.name === 'ef-crash')!;
    expect(row.throttleMs).toBeGreaterThan(0);
    w.remove('ef-crash');
    await waitFor('ef-crash vassal gone', async () => !w.vassal(await w.fetchStats(), 'ef-crash'));
  });

  it('a container healthy past min_uptime and then killed is restarted at once (no throttle)', async () => {
    w.drop('ef-svc', serviceSpec());
    await w.running('ef-svc');
    await waitFor('ef-svc loyal', async () => w.vassal(await w.fetchStats(), 'ef-svc')?.loyal === 1);
    for (let round = 0; round < 2; round++) {
      const before = w.state('ef-svc')!;
      process.kill(w.processOf('ef-svc', 'sleep')!, 'SIGKILL');
      await w.running('ef-svc', { not: before.pid!, timeoutMs: 5000 });
      const stats = await w.fetchStats();
      expect(stats?.blacklist.find((b) => b.id === 'ef-svc.vessel')).toBeUndefined();
      expect(w.state('ef-svc')!.restarts).toBe(before.restarts + 1);
      await waitFor('ef-svc loyal again', async () => w.vassal(await w.fetchStats(), 'ef-svc')?.loyal === 1);
    }
  });

  it('a vassal whose heartbeats stop is killed and respawned, and its container does not leak', async () => {
    const before = w.state('ef-svc')!;
    const vassalPid = before.supervisorPid!;
    const oldCgroups = w.leftoverCgroups();
    expect(oldCgroups.length).toBeGreaterThan(0);
    // A frozen vassal sends nothing: after emperor-required-heartbeat the Emperor SIGKILLs it.
    process.kill(vassalPid, 'SIGSTOP');
    await waitFor('frozen vassal killed', () => !pidAlive(vassalPid), 20_000);
    // Its container dies with it (pdeathsig), a moment later.
    await waitFor('the frozen vassal\'s container gone', () => !pidAlive(before.pid!), 10_000);
    const pid = await w.running('ef-svc', { not: before.pid! });
    const after = w.state('ef-svc')!;
    expect(after.supervisorPid).not.toBe(vassalPid);
    expect(pidAlive(pid)).toBe(true);
    // The old run's cgroups went with it; only the new run's exist.
    await waitFor('old cgroups removed', () => w.leftoverCgroups().every((c) => !oldCgroups.includes(c)));
    expect(w.leftoverCgroups().length).toBeGreaterThan(0);
  });

  it('SIGKILL of the Emperor → no container process or mount left; vessel up again → all back', async () => {
    w.drop('ef-two', serviceSpec());
    const pids = [await w.running('ef-svc'), await w.running('ef-two')];
    const stats = (await w.fetchStats())!;
    process.kill(stats.pid, 'SIGKILL');
    // `vessel up` notices its Emperor died and exits non-zero.
    expect(await up.exited).not.toBe(0);
    await waitFor('every process gone', () => w.leftoverProcesses().length === 0, 20_000);
    for (const p of pids) expect(pidAlive(p)).toBe(false);
    expect(w.leftoverMounts()).toEqual([]);
    expect(w.leftoverCgroups()).toEqual([]);

    up = await w.up(upFlags);
    const again = [await w.running('ef-svc', { not: pids[0]! }), await w.running('ef-two', { not: pids[1]! })];
    for (const p of again) expect(pidAlive(p)).toBe(true);
  });

  it('SIGKILL of vessel up (the warm service) → its Emperor stops every container cleanly; the next vessel up reconciles and brings them back', async () => {
    w.drop('ef-net', serviceSpec(['[network]', 'name = efnet']));
    const pids = [await w.running('ef-svc'), await w.running('ef-net')];
    up.child.kill('SIGKILL');
    // setpriv's pdeathsig sends the Emperor SIGTERM: its graceful shutdown stops every vassal,
    // whose monitors stop their containers through the protocol even with the service gone.
    await waitFor('every container process gone', () => w.leftoverProcesses().length === 0, 30_000);
    for (const p of pids) expect(pidAlive(p)).toBe(false);
    expect(w.leftoverMounts()).toEqual([]);
    expect(w.leftoverCgroups()).toEqual([]);
    // What only TypeScript releases (the lease, the nft rules) waits for the next vessel up,
    // which sweeps before its Emperor starts anything.
    up = await w.up(upFlags);
    const again = [await w.running('ef-svc', { not: pids[0]! }), await w.running('ef-net', { not: pids[1]! })];
    for (const p of again) expect(pidAlive(p)).toBe(true);
    const leases = JSON.parse(w.vessel(['network', 'ls', '--json']).stdout) as Array<{ name: string; containers?: string[]; leases?: number }>;
    expect(leases.find((n) => n.name === 'efnet')).toBeDefined();
    w.remove('ef-net');
    await waitFor('ef-net removed', async () => !w.vassal(await w.fetchStats(), 'ef-net') && w.state('ef-net') === undefined);
  });

  it('vessel up then SIGTERM → everything stopped, exit 0, nothing left', async () => {
    expect(await w.down(up)).toBe(0);
    expect(w.leftovers()).toEqual({ processes: [], mounts: [], cgroups: [] });
  });
});
