import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareNetwork, releaseNetwork, setNetBackend } from '../../src/net/index.js';
import type { NetBackend } from '../../src/net/backend.js';
import { parsePublish } from '../../src/spec/publish.js';
import { defaultSpec } from '../../src/spec/defaults.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { freePorts } from '../helpers/net.js';

/**
 * What a start asks the host for a container's network: the IPv6 question (a command on FreeBSD)
 * once, however many places need its answer, and only when something depends on it. The host side
 * is a backend that counts; records and files are real, under a private VESSEL_ROOT.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-net-prepare-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

let asked = 0;
const fake: NetBackend = {
  containerIfName: (u) => u,
  hostRoutes: async () => [],
  hostRoutes6: async () => [],
  ipv6Missing: async () => void asked++,
  interfaceExists: async () => false,
  ensureNetwork: async () => true,
  removeNetwork: async () => undefined,
  removeInterface: async () => undefined,
  applyRules: async () => undefined,
};

beforeEach(() => {
  asked = 0;
  setNetBackend(fake);
});
afterEach(() => setNetBackend(undefined));

function spec(network: string, ...publish: string[]): ContainerSpec {
  const s = defaultSpec('web', 'busybox:latest', 'flags');
  return { ...s, network: { ...s.network, mode: 'bridge', name: network, publish: publish.map(parsePublish) } };
}

describe('prepareNetwork asks the host once', () => {
  it('a first use with an IPv6 mapping: one IPv6 question for the families check and the new network', async () => {
    const att = await prepareNetwork(spec('first', `[::1]:${freePorts(1)}:80`), 'web');
    expect(att.network.mode === 'bridge' && att.network.address6).toMatch(/^fd[0-9a-f:]+\/64$/);
    expect(asked).toBe(1);
    await releaseNetwork('web', att.resources);
  });
  it('an existing network answers from its record; no mapping that needs IPv6, no question', async () => {
    const first = await prepareNetwork(spec('second'), 'web');
    expect(asked).toBe(1); // the network made on first use
    const again = await prepareNetwork(spec('second', `[::1]:${freePorts(1)}:80`), 'web');
    expect(asked).toBe(1);
    await releaseNetwork('web', again.resources);
    expect(first.network.mode).toBe('bridge');
  });
});
