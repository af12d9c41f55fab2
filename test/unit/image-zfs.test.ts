import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainIds, planZfsLayers } from '../../src/image/zfs.js';

const d = (c: string) => `sha256:${c.repeat(64)}` as const;
const golden = join(__dirname, '../fixtures/image/zfs-layers.txt');

/** One line per step, as a reviewer reads a transcript. */
function render(layers: Array<`sha256:${string}`>, existing: string[]): string {
  const plan = planZfsLayers('zroot/vessel/layers', '/var/db/vessel/layers', layers, new Set(existing));
  return plan.steps.map((s) => (s.kind === 'zfs' ? s.argv.join(' ') : `# apply layer ${s.diffId} onto ${s.mountpoint}`)).join('\n') + `\n# image snapshot: ${plan.snapshot}\n`;
}

describe('ZFS layer chains (FreeBSD store)', () => {
  it('computes OCI chain ids', () => {
    const [a, b] = chainIds([d('a'), d('b')]);
    expect(a).toBe(d('a'));
    // sha256("sha256:aaa… sha256:bbb…")
    expect(b).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b).not.toBe(d('b'));
  });

  it('clones each layer from the chain below, skipping chains already snapshotted (golden transcript)', () => {
    const layers = [d('a'), d('b'), d('c')];
    const first = `zroot/vessel/layers/${'a'.repeat(32)}@layer`;
    expect(render(layers, [first])).toBe(readFileSync(golden, 'utf8'));
  });

  it('does nothing for an image whose chains all exist', () => {
    const layers = [d('a')];
    expect(planZfsLayers('p/l', '/m', layers, new Set([`p/l/${'a'.repeat(32)}@layer`])).steps).toEqual([]);
  });
});
