import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRoot, until, vessel, type TestRoot } from '../helpers/vessel.js';

/**
 * Against a real Nomad agent, only when NOMAD_ADDR is set (no Nomad can be installed on the
 * project's machines). The agent's clients need raw_exec enabled and vessel installed
 * (VESSEL_NOMAD_BIN, default `vessel`) with the busybox image imported.
 */
const addr = process.env.NOMAD_ADDR;

describe.runIf(addr !== undefined && addr !== '')('vessel cluster on a live Nomad', () => {
  let t: TestRoot;
  const name = `vessel-live-${process.pid}`;
  beforeAll(() => {
    t = makeRoot('cluster-nomad-live');
  });
  afterAll(async () => {
    await vessel(t, ['cluster', 'stop', name, '--backend', 'nomad'], { timeoutMs: 120_000 }).catch(() => undefined);
    t.dispose();
  });

  it('submits, runs to its exit code, and stops', async () => {
    const f = join(t.root, `${name}.ini`);
    writeFileSync(f, '[container]\nimage = busybox\ncommand = sh -c "sleep 2; exit 4"\nrestart = no\n[limits]\nmemory = 32M\ncpu = 10%\n');
    const sub = await vessel(t, ['cluster', 'submit', f, '--backend', 'nomad', '--vessel-bin', process.env.VESSEL_NOMAD_BIN ?? 'vessel', '--wait', '60'], { timeoutMs: 120_000 });
    expect(sub.stderr).toBe('');
    expect(sub.code).toBe(0);
    const st = await until(async () => {
      const r = await vessel(t, ['cluster', 'status', name, '--json']);
      const s = JSON.parse(r.stdout) as { instances: Array<{ state: string; exitCode?: number }> };
      return s.instances.some((i) => i.exitCode !== undefined) ? s : undefined;
    }, 120_000, 'the allocation to finish');
    expect(st.instances[0]!.exitCode).toBe(4);
    const stop = await vessel(t, ['cluster', 'stop', name], { timeoutMs: 120_000 });
    expect(stop.code).toBe(0);
  }, 300_000);
});
