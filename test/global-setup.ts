import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * After the whole run: remove the empty cgroup subtrees (`vessel-<hash>`) of the temporary state
 * roots the tests made. Each root gets its own subtree so that tests (and `vessel gc`) never
 * touch another root's containers; an empty one left behind is only clutter, and rmdir refuses a
 * subtree that still holds a container cgroup, so a real leak stays visible.
 */
export default function setup(): () => void {
  return () => {
    const base = '/sys/fs/cgroup';
    if (!existsSync(base)) return;
    const hierarchies = existsSync(join(base, 'cgroup.controllers')) ? [base] : readdirSync(base).map((d) => join(base, d));
    for (const h of hierarchies) {
      let entries: string[] = [];
      try {
        entries = readdirSync(h);
      } catch {
        continue;
      }
      for (const e of entries) {
        if (!/^vessel-[0-9a-f]{8}$/.test(e)) continue;
        try {
          rmdirSync(join(h, e));
        } catch { /* holds a container cgroup: a leak the tests report */ }
      }
    }
  };
}
