import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { setHostRunner } from '../../src/util/host.js';
import { FreeBSDDriver } from '../../src/runtime/freebsd/index.js';
import { runDoctor } from '../../src/doctor/index.js';
import type { CaseNetwork } from '../../src/selftest/index.js';
import { LIBEXEC, bridgeNet, freebsdConfig } from '../helpers/freebsd.js';
import { LiveFreeBSD } from '../helpers/freebsd-e2e.js';
import { driverContract } from './driver-contract.js';
import { FREEBSD_DISCOVERABLE, FREEBSD_NO_VIMAGE_DISCOVERABLE } from '../../src/selftest/index.js';

/**
 * The driver contract (src/selftest/cases/) against the model FreeBSD host whose processes live
 * until killed (LiveFreeBSD), vessel-probe answered by the model (freebsd-probe.ts): every case
 * PASSes or is SKIP with FreeBSD's or doctor's reason, on a VIMAGE kernel with a nullfs root and
 * on one without VIMAGE with a ZFS clone root.
 */

// A state root of this file's own, set before anything reads the configuration.
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-contract-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const layer = join(root, 'images', 'layers', 'busybox');
mkdirSync(join(layer, 'etc'), { recursive: true });
mkdirSync(join(layer, 'tmp'), { recursive: true });
writeFileSync(join(layer, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\nwww:*:80:80::/nonexistent:/sbin/nologin\n');
writeFileSync(join(layer, 'etc', 'group'), 'wheel:*:0:root\nwww:*:80:\nvideo:*:44:www\n');

let fake: LiveFreeBSD;
let restore: (() => void) | undefined;
let n = 0;
const setup = (vimage: boolean) => () => {
  fake = new LiveFreeBSD();
  fake.vimage = vimage;
  fake.snapshots.add('zroot/vessel/images/busybox@base');
  restore = setHostRunner(fake);
};
const teardown = () => {
  restore?.();
  restore = undefined;
};

/** A lease as net/ would make it on the model's bridge: this container's address, its publish with host ports chosen. */
function modelNetwork(address: string): CaseNetwork {
  return {
    attach: async (name, publish) => ({
      network: bridgeNet(name, address, publish.map((p, i) => ({ ...p, hostPort: p.hostPort || 18080 + i }))),
      mounts: [],
      resources: [],
    }),
    release: async () => undefined,
    publishAddress: async () => fake.extAddress,
  };
}

const doctor = () => runDoctor({ os: 'freebsd', env: {}, nodeVersion: 'v20.18.1' });
const noOom = /^rctl\(8\) has no OOM kill: over memoryuse the kernel reclaims/;
const noVimage = /^VNET networks \(\[network\] name\): no VIMAGE/;

driverContract('freebsd (nullfs root, VNET, publish, limits, volumes, portacl) against a model FreeBSD', () => new FreeBSDDriver({ env: {} }), {
  setup: setup(true),
  teardown,
  discoverable: FREEBSD_DISCOVERABLE,
  probeDir: join(LIBEXEC, 'probe'),
  doctor,
  network: () => modelNetwork('10.77.3.9/24'),
  skips: { memory: noOom },
  config: () => {
    const name = `web${++n}`;
    return freebsdConfig(root, {
      name,
      user: 'www',
      root: { layers: [layer], ephemeral: true },
      mounts: [
        { kind: 'bind', source: '/srv/www', target: '/www', readonly: true },
        { kind: 'tmpfs', target: '/tmp', sizeBytes: 16 << 20 },
      ],
      limits: { memoryBytes: 64 << 20, maxproc: 50 },
      network: bridgeNet(name, '10.77.3.5/24', [{ hostPort: 8080 + n, containerPort: 80, protocol: 'tcp' }]),
      security: { portacl: [{ protocol: 'tcp', port: 80 }], capAdd: [], capDrop: [], noNewPrivileges: true },
      output: { kind: 'file', path: join(root, 'containers', name, 'container.log') },
    });
  },
});

driverContract('freebsd (ZFS clone root, no VIMAGE: lo1 alias) against a model FreeBSD', () => new FreeBSDDriver({ env: {} }), {
  setup: setup(false),
  teardown,
  discoverable: FREEBSD_NO_VIMAGE_DISCOVERABLE,
  probeDir: join(LIBEXEC, 'probe'),
  doctor,
  network: () => modelNetwork('10.77.3.10/24'),
  skips: { memory: noOom, network: noVimage, publish: noVimage },
  config: () => {
    const name = `db${++n}`;
    return freebsdConfig(root, {
      name,
      root: { layers: [], zfsSnapshot: 'zroot/vessel/images/busybox@base', zfsDataset: `zroot/vessel/containers/${name}`, ephemeral: false },
      network: bridgeNet(name, '10.77.3.6/24', [{ hostPort: 5432, containerPort: 5432, protocol: 'tcp' }]),
      output: { kind: 'file', path: join(root, 'containers', name, 'container.log') },
    });
  },
});
