import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftovers, REPO, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';
import { freePort, httpGet, netTestsCanRun, nftTableExists, waitHttp } from '../helpers/net.js';
import { nftTableName } from '../../src/net/names.js';
import type { NetBackend } from '../../src/net/index.js';

/**
 * Issue 16: a published port moved from one running container to another of the same network in
 * one nft transaction, under a client that keeps connecting — no connection refused or reset.
 * Then the records when the host refuses the step, and when the process doing it is SIGKILLed
 * between the records and the table: the next apply (`vessel network reload`) repairs the table.
 */
const canRun = netTestsCanRun();
let t: TestRoot;
const port = freePort();
const url = `http://127.0.0.1:${port}/`;
/** The client's requests: a bound count, never a time. */
const REQUESTS = 600;
const SWITCH_AFTER = 150;

type Net = typeof import('../../src/net/index.js');
let net: Net;

async function ok(args: string[]): Promise<string> {
  const r = await vessel(t, args);
  if (r.code !== 0) throw new Error(`vessel ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const serve = (name: string) => ['busybox', 'sh', '-c', `mkdir -p /w && echo ${name} > /w/index.html && exec httpd -f -p 80 -h /w`];

async function publishers(): Promise<Record<string, string[]>> {
  const info = JSON.parse(await ok(['network', 'inspect', 'swnet'])) as { containers: Array<{ name: string; publish: string[] }> };
  return Object.fromEntries(info.containers.map((c) => [c.name, c.publish]));
}

describe.runIf(canRun)('switching a published port between two running containers', () => {
  beforeAll(async () => {
    t = await rootWithBusybox('pswitch');
    // this process drives net/ directly (the reload orchestration will): the same state root as the CLI
    process.env.VESSEL_ROOT = t.root;
    net = await import('../../src/net/index.js');
    await ok(['run', '-d', '--name', 'blue', '--network', 'swnet', '-p', `${port}:80`, ...serve('blue')]);
    await ok(['run', '-d', '--name', 'green', '--network', 'swnet', ...serve('green')]);
    expect((await waitHttp(url)).body).toBe('blue\n');
    await until(async () => (await vessel(t, ['exec', 'green', 'wget', '-qO-', 'http://127.0.0.1/'])).stdout === 'green\n', 15_000, 'green serving');
  });

  afterAll(async () => {
    if (!t) return;
    for (const n of ['blue', 'green']) await vessel(t, ['rm', '-f', n]);
    expect(nftTableExists(nftTableName(join(t.root, 'networks')))).toBe(false);
    expect(leftovers(t)).toEqual([]);
    t.dispose();
  });

  it('under a client loop: zero failed connections, every one after the switch answered by the new container', async () => {
    const bodies: string[] = [];
    const errors: string[] = [];
    let switched: Promise<unknown> | undefined;
    // the request in flight when the switch returned: every later one was opened after it
    let current = 0;
    let doneAt = -1;
    for (let i = 0; i < REQUESTS; i++) {
      current = i;
      if (i === SWITCH_AFTER) {
        switched = net.switchPublished({ network: 'swnet', from: 'blue', to: 'green' }).then(() => (doneAt = current));
      }
      try {
        bodies.push((await httpGet(url, 5000)).body);
      } catch (e) {
        errors.push(`#${i}: ${(e as Error).message}`);
      }
    }
    await switched;
    expect(errors).toEqual([]);
    expect(bodies).toHaveLength(REQUESTS);
    expect(bodies.slice(0, SWITCH_AFTER).every((b) => b === 'blue\n')).toBe(true);
    // requests sent once the switch had returned went to green, all of them
    expect(doneAt).toBeGreaterThanOrEqual(SWITCH_AFTER);
    expect(doneAt).toBeLessThan(REQUESTS);
    expect(new Set(bodies.slice(doneAt + 1))).toEqual(new Set(['green\n']));
    expect(await publishers()).toEqual({ blue: [], green: [`${port}:80/tcp`] });
  });

  it('a host that refuses the step leaves the records where the ports still are', async () => {
    const { linuxBackend } = await import('../../src/net/linux/index.js');
    const refusing: NetBackend = { ...linuxBackend(), applyRules: async () => { throw new Error('nft: simulated refusal'); } };
    net.setNetBackend(refusing);
    try {
      await expect(net.switchPublished({ network: 'swnet', from: 'green', to: 'blue' })).rejects.toThrow(`switch ${port}:80/tcp from green to blue on swnet: nft: simulated refusal`);
    } finally {
      net.setNetBackend(undefined);
    }
    expect(await publishers()).toEqual({ blue: [], green: [`${port}:80/tcp`] });
    expect((await httpGet(url)).body).toBe('green\n');
  });

  it('SIGKILLed between the records and the table: the records say blue, the next apply makes the host agree', async () => {
    // The built module, in a process that kills itself where the table would be swapped.
    const script = `
      const net = await import(${JSON.stringify(join(REPO, 'dist', 'net', 'index.js'))});
      const { linuxBackend } = await import(${JSON.stringify(join(REPO, 'dist', 'net', 'linux', 'index.js'))});
      net.setNetBackend({ ...linuxBackend(), applyRules: async () => { process.kill(process.pid, 'SIGKILL'); await new Promise(() => {}); } });
      await net.switchPublished({ network: 'swnet', from: 'green', to: 'blue' });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const end = await new Promise<NodeJS.Signals | null>((res) => child.once('close', (_c, sig) => res(sig)));
    expect(end, err).toBe('SIGKILL');
    // the records moved, the table did not: green still answers
    expect(await publishers()).toEqual({ blue: [`${port}:80/tcp`], green: [] });
    expect((await httpGet(url)).body).toBe('green\n');
    // the next apply (the dead process's lock is taken over) renders the table from the records
    expect(await ok(['network', 'reload'])).toMatch(/reloaded/);
    expect((await httpGet(url)).body).toBe('blue\n');
  });

  it('switched back, the old container goes: its release keeps the new one\'s rule', async () => {
    expect(await net.switchPublished({ network: 'swnet', from: 'blue', to: 'green' })).toEqual([{ hostPort: port, containerPort: 80, protocol: 'tcp' }]);
    // again: nothing to move, the table re-asserted, nothing else changes
    await net.switchPublished({ network: 'swnet', from: 'blue', to: 'green' });
    expect((await httpGet(url)).body).toBe('green\n');
    await ok(['rm', '-f', 'blue']);
    expect((await httpGet(url)).body).toBe('green\n');
    expect(await publishers()).toEqual({ green: [`${port}:80/tcp`] });
  });
});
