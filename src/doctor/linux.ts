import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onPath, run } from '../util/index.js';
import { nodeCheck, uwsgiCheck } from './common.js';
import type { Check } from './types.js';

/** The Linux host's features, read for real from /sys, /proc and the tools vessel runs. */

const CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** cgroup v2 (one hierarchy, cgroup.controllers at the top) or v1 (one mount per controller, maybe hybrid). */
export function cgroupCheck(base = '/sys/fs/cgroup'): Check {
  const feature = 'limits (cgroups: memory, pids, cpu)';
  const v2 = read(join(base, 'cgroup.controllers'));
  if (v2 !== undefined) {
    const have = new Set(v2.trim().split(/\s+/));
    const missing = CONTROLLERS.filter((c) => !have.has(c));
    return missing.length === 0
      ? { id: 'cgroups', feature, status: 'ok', detail: `v2, controllers: ${[...have].join(' ')}` }
      : { id: 'cgroups', feature, status: 'missing', detail: `v2 without ${missing.join(', ')}`, fix: `enable them: echo "${missing.map((c) => `+${c}`).join(' ')}" > ${base}/cgroup.subtree_control` };
  }
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return { id: 'cgroups', feature, status: 'missing', detail: `${base} is not mounted`, fix: `mount -t cgroup2 none ${base}` };
  }
  const v1 = CONTROLLERS.filter((c) => existsSync(join(base, c, 'cgroup.procs')));
  const missing = CONTROLLERS.filter((c) => !v1.includes(c));
  const hybrid = existsSync(join(base, 'unified', 'cgroup.procs'));
  const kind = hybrid ? 'v1 (hybrid, v2 at unified/)' : 'v1';
  if (entries.length === 0 || missing.length > 0) {
    return { id: 'cgroups', feature, status: 'missing', detail: `${kind} without ${missing.join(', ')}`, fix: 'mount the missing v1 controllers, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)' };
  }
  return { id: 'cgroups', feature, status: 'ok', detail: `${kind}, controllers: ${v1.join(' ')}` };
}

function namespacesCheck(): Check {
  const feature = 'isolation (pid, mount, uts, ipc, net namespaces)';
  const wanted = ['pid', 'mnt', 'uts', 'ipc', 'net'];
  const missing = wanted.filter((n) => !existsSync(`/proc/self/ns/${n}`));
  return missing.length === 0
    ? { id: 'namespaces', feature, status: 'ok', detail: wanted.join(' ') }
    : { id: 'namespaces', feature, status: 'missing', detail: `the kernel lacks ${missing.join(', ')} namespaces`, fix: 'a kernel with CONFIG_NAMESPACES and each *_NS option' };
}

function userNamespacesCheck(): Check {
  const feature = 'user namespaces';
  const max = read('/proc/sys/user/max_user_namespaces')?.trim();
  if (!existsSync('/proc/self/ns/user')) return { id: 'userns', feature, status: 'info', detail: 'not in this kernel (vessel runs containers as root without them)' };
  if (max === '0') return { id: 'userns', feature, status: 'info', detail: 'present, disabled (user.max_user_namespaces=0); vessel runs containers as root without them' };
  return { id: 'userns', feature, status: 'info', detail: `present (user.max_user_namespaces=${max ?? '?'}); vessel does not need them as root` };
}

function overlayCheck(): Check {
  const feature = 'image layers (overlayfs)';
  const fs = read('/proc/filesystems') ?? '';
  return /\toverlay$/m.test(fs)
    ? { id: 'overlayfs', feature, status: 'ok', detail: 'overlay in /proc/filesystems' }
    : { id: 'overlayfs', feature, status: 'missing', detail: 'overlay is not in /proc/filesystems', fix: 'modprobe overlay' };
}

async function nftCheck(): Promise<Check> {
  const feature = 'networks and published ports (nftables)';
  const v = await run(['nft', '--version'], { allowFailure: true });
  if (v.exitCode !== 0) return { id: 'nftables', feature, status: 'missing', detail: 'nft is not installed', fix: 'apt-get install nftables (sh scripts/setup.sh does it)' };
  const version = v.stdout.trim().split('\n')[0] ?? '';
  // Listing needs the nf_tables kernel side and CAP_NET_ADMIN: the part a missing module breaks.
  const l = await run(['nft', 'list', 'tables'], { allowFailure: true });
  return l.exitCode === 0
    ? { id: 'nftables', feature, status: 'ok', detail: version }
    : { id: 'nftables', feature, status: 'missing', detail: `${version}, but nft list tables failed: ${l.stderr.trim().split('\n')[0] ?? ''}`, fix: 'run as root; modprobe nf_tables' };
}

function initCheck(libexec: string): Check {
  const path = join(libexec, 'vessel-init');
  return existsSync(path)
    ? { id: 'vessel-init', feature: 'container init (native helper)', status: 'ok', detail: path }
    : { id: 'vessel-init', feature: 'container init (native helper)', status: 'missing', detail: `${path} is not built`, fix: 'npm run build (needs cc)' };
}

/** gzip layers and .tar.gz imports: igzip where installed (image/tar-forms.ts), else GNU gzip. */
export function gzipCheck(igzip: boolean = onPath('igzip')): Check {
  const feature = 'gzip layers and .tar.gz imports';
  return igzip
    ? { id: 'gzip', feature, status: 'ok', detail: 'igzip (ISA-L)' }
    : { id: 'gzip', feature, status: 'warn', detail: 'no igzip: GNU gzip decompresses them, 2-3x slower', fix: 'apt-get install isal (sh scripts/setup.sh does it)' };
}

export async function linuxChecks(libexec: string, nodeVersion: string): Promise<Check[]> {
  return [
    namespacesCheck(),
    cgroupCheck(),
    overlayCheck(),
    await nftCheck(),
    userNamespacesCheck(),
    initCheck(libexec),
    gzipCheck(),
    await uwsgiCheck('apt-get install uwsgi-core (sh scripts/setup.sh does it)'),
    nodeCheck(nodeVersion, 'Node 20 or later (nodejs.org, or your distribution)'),
  ];
}
