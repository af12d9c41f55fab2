import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseSpecText, renderSpec, specFromFlags, type ContainerSpec } from '../../src/spec/index.js';

const fixture = (f: string) => fileURLToPath(new URL(`../fixtures/spec/${f}`, import.meta.url));

function roundTrip(spec: ContainerSpec): void {
  const text = renderSpec(spec);
  const back = parseSpecText(text, { file: `/emperor/${spec.name}.vessel`, name: spec.name });
  const { source: _a, ...want } = spec;
  const { source: _b, ...got } = back;
  expect(got).toEqual(want);
  // Rendering is a fixed point: the normalized text of the normalized spec is the same text
  // (apart from the header naming the source).
  expect(renderSpec({ ...back, source: spec.source }).split('\n').slice(1)).toEqual(text.split('\n').slice(1));
}

describe('renderSpec', () => {
  it('renders the DESIGN.md example to the golden normalized file', () => {
    const spec = parseSpecText(readFileSync(fixture('design-example.ini'), 'utf8'), { file: 'vassals/web.ini', name: 'web' });
    expect(renderSpec(spec)).toBe(readFileSync(fixture('design-example.vessel'), 'utf8'));
    roundTrip(spec);
  });

  it('round-trips specs built from flags', () => {
    roundTrip(specFromFlags({ name: 'a', image: 'busybox', command: ['sh', '-c', "echo 'hi' ; exit 3"] }));
    roundTrip(specFromFlags({ name: 'b', image: 'busybox', env: ['A=x y ; z', 'B=', 'C="q"'], tty: true, interactive: true }));
  });
});
