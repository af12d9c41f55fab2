import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmperorWorld, requireHost, waitFor, type UpProcess } from '../helpers/emperor.js';

/**
 * depends_on under the real Emperor (issue 17): a container is held back until its dependency is
 * healthy (`vessel ps` says what it waits for), and on an Emperor shutdown — which stops every
 * vassal at once — it stops before the container it depends on. Orders, never times.
 */
requireHost();
const w = new EmperorWorld('emp-deps');
let up: UpProcess;
const shared = join(w.root, 'shared');

/** Appends NAME-down to the shared log when told to stop, after `delay` seconds of its own. */
function onStop(name: string, delay: number): string {
  return `sh -c 'trap "sleep ${delay}; echo ${name}-down >> /shared/log; exit 0" TERM; while :; do sleep 0.2; done'`;
}

const db = [
  '[container]', 'image = busybox:latest', `command = ${onStop('db', 0)}`, 'min_uptime = 1', 'stop_timeout = 10', `volume[] = ${shared}:/shared`,
  // healthy once the test says so
  '[health]', 'shell = "test -e /tmp/ready"', 'interval = 200ms', 'timeout = 1s', 'retries = 1', 'on_unhealthy = none', '',
].join('\n');

const web = [
  '[container]', 'image = busybox:latest', `command = ${onStop('web', 1)}`, 'min_uptime = 1', 'stop_timeout = 10', `volume[] = ${shared}:/shared`,
  'depends_on[] = db', '',
].join('\n');

beforeAll(async () => {
  mkdirSync(shared, { recursive: true });
  w.importBusybox();
  up = await w.up();
});

afterAll(async () => {
  await w.cleanup();
});

describe('depends_on under vessel up', () => {
  it('web waits for db to be healthy, and vessel ps says so', async () => {
    // web first: with db absent the set check rejects it; both dropped, web waits for db's health
    w.drop('db', db);
    w.drop('web', web);
    await w.running('db');
    const row = await waitFor('web waiting for db', () => w.ps().containers.find((c) => c.name === 'web' && /waiting for db/.test(c.waiting ?? '')), 30_000);
    expect(row.waiting).toMatch(/waiting for db \(healthy; now /);
    expect(w.state('web')?.pid).toBeUndefined();

    w.vessel(['exec', 'db', 'touch', '/tmp/ready']);
    await waitFor('db healthy', () => w.state('db')?.health?.status === 'healthy', 30_000);
    await w.running('web');
    expect(w.state('web')?.waiting).toBeUndefined();
  });

  it('an Emperor shutdown stops web before db', async () => {
    expect(await w.down(up)).toBe(0);
    // web takes a second to stop; had db been stopped at the same time, it would have written first
    expect(readFileSync(join(shared, 'log'), 'utf8')).toBe('web-down\ndb-down\n');
    expect(w.leftovers()).toEqual({ processes: [], mounts: [], cgroups: [] });
  });
});
