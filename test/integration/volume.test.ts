import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';

// issue 17: named volumes — created on first use by real containers, kept across `rm`,
// refused for removal while a container (running or stopped) mounts them, removed by `volume rm`.
let t: TestRoot;
const volumes = () => join(t.root, 'volumes');
const entries = () => (existsSync(volumes()) ? readdirSync(volumes()).sort() : []);

beforeAll(async () => {
  t = await rootWithBusybox('volume');
});

afterAll(async () => {
  // a failed test may leave its detached container: stop it before looking for leftovers
  await vessel(t, ['rm', '-f', 'svc']);
  const left = leftovers(t);
  t.dispose();
  expect(left).toEqual([]);
});

/** One line on stderr, exit 125, as every bad input. */
function oneLine(r: { code: number; stderr: string }, re: RegExp): void {
  expect(r.code).toBe(125);
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('  hint:'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(re);
}

describe('named volumes', () => {
  it('a container writes into a named volume created on first use; the data survives the container', async () => {
    const w = await vessel(t, ['run', '--name', 'writer', '-v', 'data:/var/lib/db', 'busybox', 'sh', '-c', 'echo kept > /var/lib/db/f; id -u > /var/lib/db/who']);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    expect(entries()).toEqual(['data']);
    const rec = JSON.parse(readFileSync(join(volumes(), 'data', 'volume.json'), 'utf8')) as Record<string, unknown>;
    expect(rec).toMatchObject({ name: 'data', driver: 'local', createdBy: 'first use' });
    expect(readFileSync(join(volumes(), 'data', '_data', 'f'), 'utf8')).toBe('kept\n');

    const ls = await vessel(t, ['volume', 'ls', '--json']);
    expect(JSON.parse(ls.stdout)).toMatchObject([{ name: 'data', usedBy: ['writer'], mountpoint: join(volumes(), 'data', '_data') }]);

    // stopped but not removed: still in use, as docker counts it
    const refused = await vessel(t, ['volume', 'rm', 'data']);
    oneLine(refused, /^vessel: volume data is in use by container writer$/);
    expect(refused.stderr).toContain('hint: remove it first (vessel rm writer)');
    expect(existsSync(join(volumes(), 'data', '_data', 'f'))).toBe(true);

    expect((await vessel(t, ['rm', 'writer'])).code).toBe(0);
    const r = await vessel(t, ['run', '--rm', '-v', 'data:/d:ro', 'busybox', 'sh', '-c', 'cat /d/f; echo x > /d/g']);
    expect(r.stdout).toBe('kept\n');
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it('a running container keeps its volume from being removed; a spec file mounts it too', async () => {
    const spec = join(t.root, 'svc.ini');
    writeFileSync(spec, '[container]\nimage = busybox\ncommand = sh -c \'cat /d/f > /d/seen; exec sleep 1000\'\nvolume[] = data:/d\nrestart = no\n');
    const d = await vessel(t, ['run', '-d', '--spec', spec]);
    expect(d.code).toBe(0);
    // the shell creates `seen` before cat fills it: wait for the content, not the file
    const seen = join(volumes(), 'data', '_data', 'seen');
    await until(() => existsSync(seen) && readFileSync(seen, 'utf8') === 'kept\n', 10_000, 'the container to read the volume');
    oneLine(await vessel(t, ['volume', 'rm', 'data']), /^vessel: volume data is in use by container svc$/);
    expect((await vessel(t, ['volume', 'prune'])).stdout).toBe('0 volumes removed\n');
    expect(entries()).toEqual(['data']);
    expect((await vessel(t, ['rm', '-f', 'svc'])).code).toBe(0);
  });

  it('volume create, inspect, prune and rm; rm leaves nothing', async () => {
    expect((await vessel(t, ['volume', 'create', 'spare'])).stdout).toBe('spare\n');
    // creating an existing volume again is not an error (docker's behaviour)
    expect((await vessel(t, ['volume', 'create', 'spare'])).code).toBe(0);
    const info = JSON.parse((await vessel(t, ['volume', 'inspect', 'spare'])).stdout) as Array<Record<string, unknown>>;
    expect(info).toMatchObject([{ name: 'spare', driver: 'local', createdBy: 'volume create', usedBy: [] }]);
    expect(statSync(join(volumes(), 'spare', '_data')).mode & 0o777).toBe(0o755);
    const pruned = await vessel(t, ['volume', 'prune']);
    expect(pruned.stdout).toBe('data\nspare\n2 volumes removed\n');
    expect(entries()).toEqual([]);
    oneLine(await vessel(t, ['volume', 'rm', 'spare']), /^vessel: no such volume: spare$/);
    expect((await vessel(t, ['volume', 'rm', '-f', 'spare'])).code).toBe(0);
    oneLine(await vessel(t, ['volume', 'inspect', 'spare']), /^vessel: no such volume: spare$/);
  });

  it('hostile names are refused with one line, and nothing is created', async () => {
    for (const bad of ['../x', '..', '.hidden', '_x', 'a b', 'x'.repeat(64), 'naïve', '']) {
      oneLine(await vessel(t, ['volume', 'create', '--', bad]), /^vessel: ".*" is not a valid volume name$/);
    }
    for (const bad of ['da$ta:/x', 'a\tb:/x', '-x:/y']) {
      oneLine(await vessel(t, ['run', '--rm', '-v', bad, 'busybox', 'true']), /^vessel: --volume: .* is not a volume name/);
    }
    for (const bad of ['../x', 'a/b']) oneLine(await vessel(t, ['volume', 'rm', bad]), /is not a valid volume name/);
    expect(entries()).toEqual([]);
    expect(existsSync(join(t.root, 'containers'))).toBe(true);
  });
});
