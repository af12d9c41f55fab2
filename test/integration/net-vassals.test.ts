import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO, leftovers, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';
import { delLink, httpGet, netTestsCanRun, nftTableExists, ownInterfaces, trySh } from '../helpers/net.js';
import { nftTableName } from '../../src/net/names.js';

/**
 * Issue 4, "Must show": the example vassals under `npm start` (= setup, then `vessel up` on
 * ./vassals): web.ini serves its page on 127.0.0.1:8080 through the "front" network, and the
 * echo container sits on the same network. Stopping the Emperor leaves no network behind.
 */
const canRun = netTestsCanRun();

describe.runIf(canRun)('the example vassals', () => {
  let t: TestRoot;
  let up: ChildProcess | undefined;
  let log = '';

  beforeAll(async () => {
    t = await rootWithBusybox('netvassals');
    up = spawn(process.execPath, [BIN, 'up', '--vassals', join(REPO, 'vassals')], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  });

  afterAll(async () => {
    if (up && up.exitCode === null) {
      up.kill('SIGTERM');
      await until(() => up!.exitCode !== null || up!.signalCode !== null, 30_000, 'vessel up to exit').catch(() => up!.kill('SIGKILL'));
    }
    if (!t) return;
    await vessel(t, ['gc']);
    const scope = join(t.root, 'networks');
    const containers = readdirSync(join(REPO, 'vassals')).filter((f) => f.endsWith('.ini')).map((f) => f.slice(0, -4));
    const leftIfs = await ownInterfaces(scope, ['front'], containers);
    const leftTable = nftTableExists(nftTableName(scope));
    for (const i of leftIfs) delLink(i);
    trySh(['nft', 'delete', 'table', 'inet', nftTableName(scope)]);
    const rest = leftovers(t);
    t.dispose();
    expect({ interfaces: leftIfs, table: leftTable, rest }).toEqual({ interfaces: [], table: false, rest: [] });
  });

  it('web.ini serves its page at 127.0.0.1:8080', async () => {
    const page = await until(async () => {
      const r = await httpGet('http://127.0.0.1:8080/', 1000).catch(() => undefined);
      return r?.status === 200 ? r.body : undefined;
    }, 60_000, `the web vassal on 127.0.0.1:8080 (log: ${log.slice(-2000)})`);
    expect(page).toContain('<h1>hello from a vessel container</h1>');
    const info = JSON.parse((await vessel(t, ['network', 'inspect', 'front'])).stdout) as { containers: Array<{ name: string }> };
    expect(info.containers.map((c) => c.name)).toEqual(expect.arrayContaining(['web']));
  });

  it('its network peer answers by name from inside web', async () => {
    await until(async () => (await vessel(t, ['network', 'inspect', 'front'])).stdout.includes('"echo"'), 60_000, 'the echo vassal');
    const r = await vessel(t, ['exec', 'web', 'sh', '-c', 'echo ping | nc echo 7000']);
    expect(r.stdout).toBe('ping\n');
  });
});
