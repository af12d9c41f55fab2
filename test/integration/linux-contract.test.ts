import { afterAll, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { linuxDriver } from '../../src/runtime/linux/index.js';
import type { ContainerConfig } from '../../src/runtime/types.js';
import { driverContract } from '../unit/driver-contract.js';
import { LINUX_DISCOVERABLE, selftestNetwork } from '../../src/selftest/index.js';
import { runDoctor } from '../../src/doctor/index.js';
import { busyboxTarball, leftovers, removeCgroupParents } from '../helpers/vessel.js';
import { removeNetworkLeftovers } from '../helpers/net.js';

// The same driver contract the FreeBSD driver passes against its model, here against the real
// Linux kernel: namespaces, overlayfs, cgroups, a bridged network through net/ (nftables), with
// vessel-probe from build/probe in every case's container. Every case runs here (CI has every
// feature doctor checks); only vmemory, which Linux has no cgroup for, is SKIP.
const root = mkdtempSync('/tmp/vessel-test-contract-');
process.env.VESSEL_ROOT = root;
process.env.VESSEL_LIBEXEC ??= join(process.cwd(), 'build');
const layer = join(root, 'layer');

beforeAll(() => {
  mkdirSync(layer);
  execFileSync('tar', ['-C', layer, '-xzf', busyboxTarball()]);
});

afterAll(async () => {
  const left = leftovers({ root, env: {}, dispose: () => undefined });
  // the network cases' bridge, veths and nft table go with their last lease
  const net = await removeNetworkLeftovers(root, ['selftest'], Array.from({ length: n }, (_, i) => `contract${i + 1}`));
  removeCgroupParents(root);
  rmSync(root, { recursive: true, force: true });
  if (left.length) throw new Error(`leftovers: ${left.join(', ')}`);
  if (net.interfaces.length || net.table) throw new Error(`network leftovers: ${[...net.interfaces, ...(net.table ? ['nft table'] : [])].join(', ')}`);
});

let n = 0;
driverContract('linux (real namespaces, overlayfs, cgroups)', () => linuxDriver, {
  config: (): ContainerConfig => {
    const name = `contract${++n}`;
    const dir = join(root, 'containers', name);
    mkdirSync(dir, { recursive: true });
    return {
      name,
      runId: `r${n}`,
      dir,
      root: { layers: [layer], ephemeral: n % 2 === 0 },
      argv: ['sleep', '300'],
      env: ['PATH=/bin:/usr/bin'],
      workdir: '/',
      user: '',
      hostname: name,
      mounts: [{ kind: 'tmpfs', target: '/scratch', sizeBytes: 1 << 20 }],
      limits: { memoryBytes: 64 << 20, maxproc: 50, cpuPercent: 50 },
      wait: 'all',
      tty: false,
      interactive: false,
      network: { mode: 'none' },
      stopSignal: 'SIGTERM',
      jail: {},
      security: { portacl: [], capAdd: [], capDrop: [], noNewPrivileges: true },
      output: { kind: 'file', path: join(dir, 'container.log') },
    };
  },
  discoverable: LINUX_DISCOVERABLE,
  probeDir: join(process.env.VESSEL_LIBEXEC, 'probe'),
  doctor: () => runDoctor({ os: 'linux' }),
  network: () => selftestNetwork(linuxDriver),
  skips: { vmemory: /^vmemory is rctl\(8\)'s vmemoryuse; Linux has no cgroup/ },
});
