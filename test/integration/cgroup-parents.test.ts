import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/util/config.js';
import { cgroupLayout } from '../../src/runtime/linux/cgroup.js';
import { prepareCgroupParents } from '../../src/runtime/linux/cgroup-limits.js';
import { pruneLinuxParents } from '../../src/runtime/linux/cleanup.js';

/**
 * The parent cgroup a state root's containers live under (runtime/linux/cleanup.ts
 * pruneLinuxParents), on the real cgroup file systems: gc removes it once empty, whether vessel
 * derived its name (the default root's `vessel`, a private root's `vessel-HASH`); a parent the
 * configuration names is the admin's and stays. Needs root, as CI runs.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-cgroup-parents-'));
const layout = cgroupLayout();
const mounts = [...new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])];
const made: string[] = [];
afterAll(() => {
  for (const d of made) try { rmdirSync(d); } catch { /* gone, as it should be */ }
  rmSync(root, { recursive: true, force: true });
});

const dirsOf = (parent: string) => mounts.map((m) => join(m, parent));

describe('gc and the parent cgroup of a state root', () => {
  it('a parent vessel named itself goes once empty; one the configuration names stays; one in use stays', async () => {
    const derived = loadConfig({ VESSEL_ROOT: root });
    expect(derived.sources.cgroupParent).toBe('default');
    prepareCgroupParents(layout, derived.cgroupParent);
    made.push(...dirsOf(derived.cgroupParent));
    // in use: a run's leaf under it in the first hierarchy
    const leaf = join(dirsOf(derived.cgroupParent)[0]!, 'c.0');
    mkdirSync(leaf);
    made.unshift(leaf);
    await pruneLinuxParents(derived);
    expect(existsSync(dirsOf(derived.cgroupParent)[0]!)).toBe(true);
    rmdirSync(leaf);
    await pruneLinuxParents(derived);
    expect(dirsOf(derived.cgroupParent).filter((d) => existsSync(d))).toEqual([]);

    const named = loadConfig({ VESSEL_ROOT: root, VESSEL_CGROUP_PARENT: `vessel-named-${process.pid}` });
    prepareCgroupParents(layout, named.cgroupParent);
    made.push(...dirsOf(named.cgroupParent));
    await pruneLinuxParents(named);
    expect(dirsOf(named.cgroupParent).filter((d) => !existsSync(d))).toEqual([]);
  });

  it('the default root\'s `vessel` goes too once empty (it stayed behind after every `npm start`)', async () => {
    const cfg = loadConfig({});
    expect([cfg.cgroupParent, cfg.sources.cgroupParent]).toEqual(['vessel', 'default']);
    prepareCgroupParents(layout, cfg.cgroupParent);
    await pruneLinuxParents(cfg);
    // gone, unless a container of this host's default root is running in it right now
    const left = dirsOf('vessel').filter((d) => existsSync(d));
    const leaves = left.flatMap((d) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)));
    expect(left.length === 0 || leaves.length > 0).toBe(true);
  });
});
