import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EmperorWorld, pidAlive, requireHost, serviceSpec, waitFor, type UpProcess } from '../helpers/emperor.js';

// Twenty specs dropped at once, with the real uWSGI: twenty containers.
requireHost();
const w = new EmperorWorld('emp-scale');
const names = Array.from({ length: 20 }, (_, i) => `es-${String(i).padStart(2, '0')}`);
let up: UpProcess;

beforeAll(async () => {
  w.importBusybox();
  up = await w.up();
});

afterAll(async () => {
  await w.cleanup();
});

describe('many containers', () => {
  it('20 specs dropped at once → 20 containers running', async () => {
    const staging = join(w.root, 'staging');
    mkdirSync(staging, { recursive: true });
    for (const n of names) {
      w.names.add(n);
      writeFileSync(join(staging, `${n}.ini`), serviceSpec());
    }
    for (const n of names) renameSync(join(staging, `${n}.ini`), join(w.vassals, `${n}.ini`));
    const pids = new Set<number>();
    for (const n of names) pids.add(await w.running(n, { timeoutMs: 90_000 }));
    expect(pids.size).toBe(20);
    for (const p of pids) expect(pidAlive(p)).toBe(true);
    const stats = await waitFor('20 vassals in stats', async () => {
      const s = await w.fetchStats();
      return s && names.every((n) => w.vassal(s, n)?.ready === 1) ? s : undefined;
    }, 30_000);
    expect(stats.vassals.filter((v) => v.id.startsWith('es-')).length).toBe(20);
    const rows = w.ps().containers.filter((c) => c.name.startsWith('es-'));
    expect(rows.map((r) => r.status)).toEqual(names.map(() => 'running'));
  });

  it('vessel up then SIGTERM → all 20 stopped, exit 0, nothing left', async () => {
    expect(await w.down(up)).toBe(0);
    expect(w.leftovers()).toEqual({ processes: [], mounts: [], cgroups: [] });
  });
});
