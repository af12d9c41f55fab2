import { describe, expect, it } from 'vitest';
import {
  checkDependencies,
  dependencyGate,
  dependencyNode,
  hasHealthCheck,
  parseSpecText,
  renderSpec,
  startOrder,
  stopOrder,
  type DependencyNode,
  type DependencyStatus,
} from '../../src/spec/index.js';

const node = (name: string, deps: string[] = [], health = false): DependencyNode => ({
  name,
  file: `/v/${name}.ini`,
  dependsOn: deps.map((d) => {
    const [n, c] = d.split(':');
    return c === undefined ? { name: n! } : { name: n!, condition: c as 'started' | 'healthy' };
  }),
  hasHealthCheck: health,
});

describe('depends_on in one spec', () => {
  it('round-trips through the normalized form, conditions kept as written', () => {
    const text = '[container]\nimage = busybox\ndepends_on[] = db\ndepends_on[] = cache:healthy\n\n[health]\ncommand = true\nstart_period = 20\n';
    const spec = parseSpecText(text, { file: '/v/web.ini' });
    expect(spec.dependsOn).toEqual([{ name: 'db' }, { name: 'cache', condition: 'healthy' }]);
    const again = parseSpecText(renderSpec(spec), { file: '/v/web.ini' });
    expect(again).toEqual(spec);
    expect(renderSpec(spec)).toContain('depends_on[] = db\ndepends_on[] = cache:healthy\n');
    expect(renderSpec(spec)).toContain('start_period = 20s\n');
  });

  it('a spec without depends_on has none (the field stays absent)', () => {
    expect(parseSpecText('[container]\nimage = busybox\n', { file: 'a.ini' }).dependsOn).toBeUndefined();
  });
});

describe('the set check (checkDependencies)', () => {
  it('accepts a chain and a diamond', () => {
    expect(checkDependencies([node('web', ['api', 'cache']), node('api', ['db']), node('cache', ['db']), node('db')])).toEqual(new Map());
  });

  it('an unknown name: one line naming the file, with a suggestion', () => {
    const errs = checkDependencies([node('web', ['dbb']), node('db')], { missing: (n) => `no ${n}.ini in /v` });
    expect([...errs.entries()]).toEqual([['web', '/v/web.ini: [container] depends_on: "dbb": no dbb.ini in /v, did you mean db?']]);
  });

  it('a known but unreadable name is not unknown', () => {
    expect(checkDependencies([node('web', ['db'])], { known: new Set(['db']) })).toEqual(new Map());
  });

  it('a cycle: every spec on it is refused, each message naming all its files in order', () => {
    const errs = checkDependencies([node('a', ['b']), node('b', ['c']), node('c', ['a']), node('d', ['a']), node('e')]);
    const line = '[container] depends_on: a dependency cycle: /v/a.ini → /v/b.ini → /v/c.ini → /v/a.ini';
    expect(errs.get('a')).toBe(`/v/a.ini: ${line}`);
    expect(errs.get('b')).toBe(`/v/b.ini: ${line}`);
    expect(errs.get('c')).toBe(`/v/c.ini: ${line}`);
    // d depends on the cycle but is not on it: it waits at run time, it is not a set error
    expect(errs.has('d')).toBe(false);
    expect(errs.has('e')).toBe(false);
    for (const m of errs.values()) expect(m).not.toContain('\n');
  });

  it('two separate cycles are both found; a long chain does not exhaust the stack', () => {
    const errs = checkDependencies([node('a', ['b']), node('b', ['a']), node('x', ['y']), node('y', ['x'])]);
    expect([...errs.keys()].sort()).toEqual(['a', 'b', 'x', 'y']);
    const chain = Array.from({ length: 20000 }, (_, i) => node(`n${i}`, i + 1 < 20000 ? [`n${i + 1}`] : ['n0']));
    const big = checkDependencies(chain);
    expect(big.size).toBe(20000);
    expect(big.get('n0')).toBe('/v/n0.ini: [container] depends_on: a dependency cycle: /v/n0.ini → /v/n1.ini → /v/n2.ini → /v/n3.ini → /v/n4.ini → /v/n5.ini → … → /v/n19999.ini → /v/n0.ini (20000 specs)');
  });

  it('healthy on a spec without a health check can never be met', () => {
    const errs = checkDependencies([node('web', ['db:healthy']), node('db')]);
    expect(errs.get('web')).toBe('/v/web.ini: [container] depends_on: db:healthy: /v/db.ini has no health check ([health] missing or disabled), so it can never be healthy');
    expect(checkDependencies([node('web', ['db:healthy']), node('db', [], true)])).toEqual(new Map());
  });

  it('a [health] section with disable = true is no health check (the set check and the gate agree)', () => {
    const db = parseSpecText('[container]\nimage = busybox\n\n[health]\ndisable = true\n', { file: '/v/db.ini', name: 'db' });
    const web = parseSpecText('[container]\nimage = busybox\ndepends_on[] = db:healthy\n', { file: '/v/web.ini', name: 'web' });
    expect(dependencyNode(db).hasHealthCheck).toBe(false);
    expect(hasHealthCheck(db)).toBe(false);
    expect(checkDependencies([dependencyNode(web), dependencyNode(db)]).get('web')).toMatch(/db:healthy: \/v\/db\.ini has no health check/);
  });
});

describe('the runtime gate (dependencyGate)', () => {
  const spec = { dependsOn: [{ name: 'db' }, { name: 'cache', condition: 'started' as const }] };
  const world = (m: Record<string, DependencyStatus>) => (n: string) => m[n];

  it('default condition: healthy when the dependency has a health check, else started', () => {
    expect(dependencyGate(spec, world({
      db: { state: 'running', hasHealthCheck: true, health: 'starting' },
      cache: { state: 'running', hasHealthCheck: false },
    }))).toEqual({ ready: false, reason: 'waiting for db (healthy; now starting)' });
    expect(dependencyGate(spec, world({
      db: { state: 'running', hasHealthCheck: true, health: 'healthy' },
      cache: { state: 'running', hasHealthCheck: true, health: 'unhealthy' },
    }))).toEqual({ ready: true });
    expect(dependencyGate(spec, world({ db: { state: 'running', hasHealthCheck: false }, cache: { state: 'running', hasHealthCheck: false } }))).toEqual({ ready: true });
  });

  it('names the first unmet dependency and what it is doing', () => {
    expect(dependencyGate(spec, world({}))).toEqual({ ready: false, reason: 'waiting for db (started; now missing)' });
    expect(dependencyGate(spec, world({ db: { state: 'starting', hasHealthCheck: true } }))).toEqual({ ready: false, reason: 'waiting for db (healthy; now starting)' });
    expect(dependencyGate(spec, world({ db: { state: 'running', hasHealthCheck: true } }))).toEqual({ ready: false, reason: 'waiting for db (healthy; now running, no health result yet)' });
    expect(dependencyGate(spec, world({ db: { state: 'running', hasHealthCheck: false }, cache: { state: 'rejected', hasHealthCheck: false } })))
      .toEqual({ ready: false, reason: 'waiting for cache (started; now rejected)' });
    expect(dependencyGate({ dependsOn: [{ name: 'db', condition: 'healthy' }] }, world({ db: { state: 'running', hasHealthCheck: true, health: 'unhealthy' } })))
      .toEqual({ ready: false, reason: 'waiting for db (healthy; now unhealthy)' });
  });

  it('no dependencies: ready', () => {
    expect(dependencyGate({}, () => undefined)).toEqual({ ready: true });
  });
});

describe('start and stop order', () => {
  const set = [
    { name: 'web', dependsOn: [{ name: 'api' }, { name: 'cache' }] },
    { name: 'api', dependsOn: [{ name: 'db' }] },
    { name: 'cache' },
    { name: 'db' },
    { name: 'lone', dependsOn: [{ name: 'elsewhere' }] },
  ];

  it('dependencies start first; dependents stop first', () => {
    const start = startOrder(set);
    const stop = stopOrder(set);
    expect(stop).toEqual([...start].reverse());
    const before = (order: string[], a: string, b: string) => order.indexOf(a) < order.indexOf(b);
    expect(before(start, 'db', 'api') && before(start, 'api', 'web') && before(start, 'cache', 'web')).toBe(true);
    expect(before(stop, 'web', 'api') && before(stop, 'api', 'db')).toBe(true);
    expect([...start].sort()).toEqual(['api', 'cache', 'db', 'lone', 'web']);
  });

  it('is stable and terminates on a cycle', () => {
    expect(startOrder([{ name: 'b', dependsOn: [{ name: 'a' }] }, { name: 'a', dependsOn: [{ name: 'b' }] }])).toHaveLength(2);
    expect(startOrder(set)).toEqual(startOrder([...set].reverse()));
  });
});
