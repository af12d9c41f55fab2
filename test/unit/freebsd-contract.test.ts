import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { setHostRunner } from '../../src/util/host.js';
import { FreeBSDDriver } from '../../src/runtime/freebsd/index.js';
import { bridgeNet, FakeFreeBSD, freebsdConfig } from '../helpers/freebsd.js';
import { driverContract } from './driver-contract.js';
import { FREEBSD_DISCOVERABLE, FREEBSD_NO_VIMAGE_DISCOVERABLE } from '../../src/selftest/index.js';

// A state root of this file's own, set before anything reads the configuration.
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-contract-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const layer = join(root, 'images', 'layers', 'busybox');
mkdirSync(join(layer, 'etc'), { recursive: true });
writeFileSync(join(layer, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\nwww:*:80:80::/nonexistent:/sbin/nologin\n');

let fake: FakeFreeBSD;
let restore: (() => void) | undefined;
let n = 0;
const setup = (vimage: boolean) => () => {
  fake = new FakeFreeBSD();
  fake.vimage = vimage;
  fake.snapshots.add('zroot/vessel/images/busybox@base');
  restore = setHostRunner(fake);
};
const teardown = () => {
  restore?.();
  restore = undefined;
};

driverContract('freebsd (nullfs root, VNET, publish, limits, volumes, portacl) against a model FreeBSD', () => new FreeBSDDriver({ env: {} }), {
  setup: setup(true),
  teardown,
  discoverable: FREEBSD_DISCOVERABLE,
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
    });
  },
});

driverContract('freebsd (ZFS clone root, no VIMAGE: lo1 alias) against a model FreeBSD', () => new FreeBSDDriver({ env: {} }), {
  setup: setup(false),
  teardown,
  discoverable: FREEBSD_NO_VIMAGE_DISCOVERABLE,
  config: () => {
    const name = `db${++n}`;
    return freebsdConfig(root, {
      name,
      root: { layers: [], zfsSnapshot: 'zroot/vessel/images/busybox@base', zfsDataset: `zroot/vessel/containers/${name}`, ephemeral: false },
      network: bridgeNet(name, '10.77.3.6/24', [{ hostPort: 5432, containerPort: 5432, protocol: 'tcp' }]),
    });
  },
});
