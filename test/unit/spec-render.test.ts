import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CAPABILITIES, JAIL_PARAMS, parseSpecText, renderSpec, specFromFlags, type ContainerSpec, type Volume } from '../../src/spec/index.js';
import { seededRandom } from '../helpers/random.js';

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

/** Awkward strings: INI comment characters, quotes, backslashes, control characters, unicode. */
const NASTY = ['plain', 'two words', ' lead', 'trail ', 'a ; b', 'x #y', ';start', '#start', '"q"', "'s'", 'back\\slash',
  'new\nline', 'tab\there', 'ünï€ode', '', '$HOME', 'a=b=c', '[x]', 'c:\\path', '\\"mixed\'', '-', '--flag=1'];

function genSpec(seed: number): ContainerSpec {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = (p = 0.5) => r() < p;
  const words = (n: number) => Array.from({ length: n }, () => pick(NASTY));
  const name = `c${seed}`;
  const base = specFromFlags({ name, image: pick(['busybox', 'alpine:3.19', 'localhost:5000/a/b:v1']), restart: 'no' });
  const spec: ContainerSpec = { ...base, restart: pick([{ mode: 'always' }, { mode: 'no' }, { mode: 'on-failure' }, { mode: 'on-failure', maxRetries: 3 }] as const) };
  if (maybe()) spec.command = words(Math.floor(r() * 4));
  if (maybe(0.3)) spec.entrypoint = words(Math.floor(r() * 3));
  if (maybe()) spec.hostname = pick(['web', 'a.b.c', 'x-1']);
  spec.env = Array.from({ length: Math.floor(r() * 4) }, (_, i) => [pick(['A', 'PATH', 'x.y', 'K;1']) + i, pick(NASTY)] as [string, string]);
  if (maybe()) spec.workdir = pick(['/', '/srv/app', '/a b']);
  if (maybe()) spec.user = pick(['root', '1000', '1000:1000', 'www:www']);
  const vols: Volume[] = [
    { kind: 'bind', source: '/srv/www', target: '/www', readonly: true },
    { kind: 'bind', source: '/data dir', target: '/data', readonly: false },
    { kind: 'tmpfs', target: '/tmp', sizeBytes: 16 * 2 ** 20, mode: 0o1777 },
    { kind: 'tmpfs', target: '/run', mode: 0o755 },
    { kind: 'tmpfs', target: '/x', sizeBytes: 1000, mode: 0o700 },
  ];
  spec.volumes = vols.filter(() => maybe());
  spec.stopTimeout = Math.floor(r() * 60);
  spec.stopSignal = pick(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1']);
  spec.wait = pick(['all', 'main'] as const);
  spec.minUptime = Math.floor(r() * 30);
  spec.tty = maybe();
  spec.interactive = maybe();
  if (maybe(0.2)) spec.parent = 'base';
  const mode = pick(['none', 'host', 'bridge'] as const);
  spec.network = mode === 'bridge'
    ? {
        mode, name: pick(['vessel', 'front', 'back.end']),
        publish: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' as const },
          { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' as const },
        ].filter(() => maybe()),
        aliases: ['www', 'api'].filter(() => maybe()),
      }
    : { mode, publish: [], aliases: [] };
  spec.limits = {
    ...(maybe() ? { memoryBytes: pick([64 * 2 ** 20, 2 ** 30, 123457, 1536]) } : {}),
    ...(maybe() ? { vmemoryBytes: pick([2 ** 31, 4096]) } : {}),
    ...(maybe() ? { maxproc: 1 + Math.floor(r() * 100) } : {}),
    ...(maybe() ? { cpuPercent: pick([50, 200, 12.5, 33.333, 0.001]) } : {}),
    ...(maybe() ? { openfiles: 1 + Math.floor(r() * 9999) } : {}),
  };
  spec.jail = {};
  for (const k of Object.keys(JAIL_PARAMS)) {
    if (!maybe(0.15)) continue;
    spec.jail[k] = k.startsWith('allow.') ? String(maybe())
      : k.startsWith('sysv') ? 'inherit' : k === 'linux' ? 'new' : /os(name|release)$/.test(k) ? '13.2-RELEASE p1' : '1';
  }
  spec.security = {
    portacl: [{ protocol: 'tcp' as const, port: 80 }, { protocol: 'udp' as const, port: 53 }].filter(() => maybe()),
    capAdd: CAPABILITIES.slice(0, 3).filter(() => maybe()),
    capDrop: [...CAPABILITIES.slice(10, 12), 'ALL'].filter(() => maybe(0.3)),
    noNewPrivileges: maybe(0.8),
  };
  if (maybe(0.4)) {
    const test = pick([
      { kind: 'exec' as const, argv: words(1 + Math.floor(r() * 3)) },
      { kind: 'shell' as const, script: pick(['wget -qO- http://127.0.0.1/ || exit 1', 'test -f /a ; echo "ok" # x', ' x\ty\n']) },
      undefined,
    ]);
    if (maybe(0.15)) spec.health = { test: { kind: 'none' } };
    else {
      spec.health = {
        ...(test ? { test } : {}),
        ...(maybe() ? { intervalMs: pick([1, 500, 1000, 90_000, 3_600_000 + 1]) } : {}),
        ...(maybe() ? { timeoutMs: pick([1, 2000, 30_000]) } : {}),
        ...(maybe() ? { startPeriodMs: pick([0, 1500, 60_000]) } : {}),
        ...(maybe() ? { retries: 1 + Math.floor(r() * 5) } : {}),
        ...(maybe() ? { onUnhealthy: pick(['restart', 'none'] as const) } : {}),
      };
      if (Object.keys(spec.health).length === 0) delete spec.health;
    }
  }
  spec.source = `/vassals/${name}.ini`;
  return spec;
}

describe('round trip on a matrix of 400 generated specs', () => {
  it.each(Array.from({ length: 400 }, (_, i) => i))('spec #%i', (seed) => {
    roundTrip(genSpec(seed));
  });
  it('renders the same bytes twice and nothing time-dependent', () => {
    const s = genSpec(7);
    expect(renderSpec(s)).toBe(renderSpec(structuredClone(s)));
    expect(renderSpec(s)).not.toMatch(/\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}/);
  });
});
