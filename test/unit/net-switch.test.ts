import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setNetBackend, switchPublished } from '../../src/net/index.js';
import { readNetwork, saveNetwork } from '../../src/net/store.js';
import type { NetBackend } from '../../src/net/backend.js';
import type { NetworkRecord } from '../../src/net/types.js';
import { parsePublish } from '../../src/spec/publish.js';
import { defaultSpec } from '../../src/spec/defaults.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { surgeRefusal } from '../../src/supervise/surge.js';
import { freePorts } from '../helpers/net.js';

/**
 * A zero-downtime reload never leaves a port unpublished: a host port still to be chosen is not
 * switched to (it would be recorded as is and rendered as a comment), and a port the switch newly
 * takes must be free of host sockets, as at a start. The host side is a backend that records what
 * it is asked; the sockets are real (hostListeners reads /proc/net).
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-net-switch-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const held = freePorts(2);
const fresh = held + 1;
let applied = 0;
let relays: NetBackend['relays'];
const servers: Server[] = [];

const fake: NetBackend = {
  containerIfName: (u) => u,
  hostRoutes: async () => [],
  hostRoutes6: async () => [],
  ipv6Missing: async () => undefined,
  relays: (publish, address6) => relays?.(publish, address6) ?? [],
  interfaceExists: async () => true,
  ensureNetwork: async () => false,
  removeNetwork: async () => undefined,
  removeInterface: async () => undefined,
  applyRules: async () => void applied++,
};

function listen(host: string, port: number): Promise<void> {
  const s = createServer();
  servers.push(s);
  return new Promise((res, rej) => s.once('error', rej).listen(port, host, () => res()));
}

beforeEach(() => {
  applied = 0;
  relays = undefined;
  setNetBackend(fake);
  const lease = (container: string, address: string, publish: NetworkRecord['leases'][string]['publish']) => ({
    container, address, address6: address.replace('10.77.3.', 'fd00:77:3::'), hostIf: `h-${container}`, containerIf: 'eth0', publish, names: [container], leasedAt: '',
  });
  saveNetwork({
    name: 'front', subnet: '10.77.3.0/24', gateway: '10.77.3.1', subnet6: 'fd00:77:3::/64', gateway6: 'fd00:77:3::1', bridge: 'vsl-front', auto: false, created: '', nextHost: 7,
    leases: {
      web: lease('web', '10.77.3.5', [{ hostPort: held, containerPort: 80, protocol: 'tcp' }]),
      'web@next': lease('web@next', '10.77.3.6', []),
    },
  });
});
afterEach(async () => {
  setNetBackend(undefined);
  await Promise.all(servers.splice(0).map((s) => new Promise((res) => s.close(res))));
});

async function unchanged(): Promise<void> {
  const rec = (await readNetwork('front'))!;
  expect(rec.leases.web!.publish).toEqual([{ hostPort: held, containerPort: 80, protocol: 'tcp' }]);
  expect(rec.leases['web@next']!.publish).toEqual([]);
  expect(applied).toBe(0);
}

describe('switchPublished: only chosen, free host ports', () => {
  it('refuses a mapping whose host port is chosen at start (`-p 80`, `8000-8010:80`): one line, nothing recorded or applied', async () => {
    const recorded: unknown[] = [];
    for (const text of ['80', `${fresh}-${fresh + 10}:80`]) {
      const publish = [parsePublish(`${held}:80`), parsePublish(text)];
      await expect(switchPublished({ network: 'front', from: 'web', to: 'web@next', publish, record: (r) => void recorded.push(...r) }))
        .rejects.toThrow(`switch published ports on front to web@next: ${text}/tcp has no host port yet (it is chosen at a start, not at a switch)`);
    }
    expect(recorded).toEqual([]);
    await unchanged();
  });

  it('refuses a port it newly takes that a host socket is bound to', async () => {
    await listen('127.0.0.1', fresh);
    await expect(switchPublished({ network: 'front', from: 'web', to: 'web@next', publish: [parsePublish(`${fresh}:80`)] }))
      .rejects.toThrow(`web@next: port ${fresh}/tcp is already in use on the host (a socket is bound to 127.0.0.1:${fresh})`);
    await unchanged();
  });

  it('a socket on a port the leases already publish, or the next container\'s own [::1] relay, is not in the way', async () => {
    // behind the old container's redirect (as its own relay would be)
    await listen('127.0.0.1', held);
    // the next container's relay, bound beside before the switch
    await listen('::1', fresh);
    relays = (publish, address6) => publish.map((p) => ({ protocol: p.protocol, listen: '::1', port: p.hostPort, target: address6!, targetPort: p.containerPort, count: 1 }));
    const publish = [parsePublish(`${held}:80`), parsePublish(`${fresh}:81`)];
    expect(await switchPublished({ network: 'front', from: 'web', to: 'web@next', publish })).toEqual(publish);
    expect(applied).toBe(1);
    expect((await readNetwork('front'))!.leases['web@next']!.publish).toEqual(publish);
  });
});

describe('surgeRefusal: a reload to host ports chosen at start is stop-then-start', () => {
  const spec = (...publish: string[]): ContainerSpec => {
    const s = defaultSpec('web', 'busybox:latest', 'flags');
    return { ...s, network: { ...s.network, mode: 'bridge', name: 'front', publish: publish.map(parsePublish) } };
  };
  it('refuses `-p 80` and a host range `8000-8010:80` in a changed list', async () => {
    expect(await surgeRefusal(spec('8080:80'), spec('80'))).toBe('host ports chosen at start change');
    expect(await surgeRefusal(spec('8080:80'), spec('8000-8010:80'))).toBe('host ports chosen at start change');
    expect(await surgeRefusal(spec('8080:80'), spec('8080:80', '127.0.0.1:8000-8010:81'))).toBe('host ports chosen at start change');
  });
  it('an unchanged list moves the ports the running one was given: not refused for that', async () => {
    // past the publish check: the next question is the image (this root's store is empty)
    expect(await surgeRefusal(spec('8000-8010:80'), spec('8000-8010:80'))).toBe('image busybox:latest is not in the store');
    expect(await surgeRefusal(spec('8080:80'), spec('8081:80'))).toBe('image busybox:latest is not in the store');
  });
  it('FreeBSD: a reload goes beside the running jail (a jail of its own, runtime/freebsd/names.ts), but not a parent jail\'s', async () => {
    const was = process.env.VESSEL_OS;
    process.env.VESSEL_OS = 'freebsd';
    try {
      expect(await surgeRefusal(spec('8080:80'), spec('8080:80'))).toBe('image busybox:latest is not in the store');
      const parent = { ...spec('8080:80'), jail: { 'children.max': '2' } };
      expect(await surgeRefusal(spec('8080:80'), parent)).toBe('a parent jail (children.max > 0) takes its child jails with it');
      expect(await surgeRefusal(parent, spec('8080:80'))).toBe('a parent jail (children.max > 0) takes its child jails with it');
    } finally {
      if (was === undefined) delete process.env.VESSEL_OS;
      else process.env.VESSEL_OS = was;
    }
  });
});
