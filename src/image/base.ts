import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VesselError, run } from '../util/index.js';
import { importRootfsTarball, type ImportOptions } from './import-rootfs.js';
import { tarForms } from './tar-forms.js';
import type { ImageRecord } from './types.js';

/**
 * `vessel image base NAME [--from DIR]`: a FreeBSD image made offline from a FreeBSD base system
 * (the host's own, DIR=/). Its programs are /rescue: rescue(8) is one statically linked crunched
 * binary hard-linked under ~150 names (sh, cat, nc, sleep, date, hostname, ps …, per
 * rescue/rescue/Makefile), so the image needs no shared libraries and no ld-elf.so. The account
 * files are written fresh — never the host's master.passwd, which holds password hashes.
 */

/** Host files copied when present: name resolution and service tables, nothing secret. */
export const BASE_HOST_FILES = ['etc/services', 'etc/protocols', 'etc/nsswitch.conf', 'etc/login.conf', 'etc/termcap.small'];

/** /bin, /sbin, /usr/bin, /usr/sbin all point at /rescue, so `/bin/sh` and scripts' #! lines work. */
const LINKS: Array<[string, string]> = [['bin', 'rescue'], ['sbin', 'rescue'], ['usr/bin', '../rescue'], ['usr/sbin', '../rescue']];

/** passwd(5), master.passwd(5) and group(5) in FreeBSD's formats, with no password anywhere ("*"). */
export function baseAccounts(): Record<string, { text: string; mode: number }> {
  const users: Array<[string, number, number, string, string, string]> = [
    ['root', 0, 0, 'Charlie &', '/root', '/bin/sh'],
    ['www', 80, 80, 'World Wide Web Owner', '/nonexistent', '/usr/sbin/nologin'],
    ['nobody', 65534, 65534, 'Unprivileged user', '/nonexistent', '/usr/sbin/nologin'],
  ];
  const groups: Array<[string, number]> = [['wheel', 0], ['www', 80], ['nogroup', 65533], ['nobody', 65534]];
  return {
    'etc/passwd': { text: users.map(([n, u, g, gecos, home, sh]) => `${n}:*:${u}:${g}:${gecos}:${home}:${sh}\n`).join(''), mode: 0o644 },
    // name:password:uid:gid:class:change:expire:gecos:home:shell
    'etc/master.passwd': { text: users.map(([n, u, g, gecos, home, sh]) => `${n}:*:${u}:${g}::0:0:${gecos}:${home}:${sh}\n`).join(''), mode: 0o600 },
    'etc/group': { text: groups.map(([n, g]) => `${n}:*:${g}:\n`).join(''), mode: 0o644 },
  };
}

/** The image's configuration: a shell by default, and a PATH that finds /rescue's programs. */
export const BASE_IMAGE_CONFIG = { Env: ['PATH=/rescue:/bin:/sbin:/usr/bin:/usr/sbin'], Cmd: ['/bin/sh'], WorkingDir: '/' };

export async function buildBaseImage(ref: string, opts: { from?: string; onProgress?: ImportOptions['onProgress'] } = {}): Promise<ImageRecord> {
  const from = opts.from ?? '/';
  if (!existsSync(join(from, 'rescue', 'sh'))) {
    throw new VesselError('E_IMAGE', `image base --from ${from}: ${join(from, 'rescue', 'sh')} does not exist`, {
      hint: 'needs a FreeBSD base system with /rescue (every FreeBSD install has it); elsewhere, pull a FreeBSD OCI image',
    });
  }
  const stage = mkdtempSync(join(tmpdir(), 'vessel-base-'));
  try {
    const tree = join(stage, 'root');
    for (const d of ['etc', 'usr', 'tmp', 'var/tmp', 'dev', 'root']) mkdirSync(join(tree, d), { recursive: true });
    for (const [path, target] of LINKS) symlinkSync(target, join(tree, path));
    for (const [path, f] of Object.entries(baseAccounts())) writeFileSync(join(tree, path), f.text, { mode: f.mode });
    const copied = BASE_HOST_FILES.filter((f) => {
      try {
        return lstatSync(join(from, f)).isFile();
      } catch {
        return false;
      }
    });
    const out = join(stage, 'layer.tar');
    // hier(7): /tmp and /var/tmp are world-writable with the sticky bit.
    for (const d of ['tmp', 'var/tmp']) chmodSync(join(tree, d), 0o1777);
    await run(tarForms().createBaseLayer(out, tree, ['bin', 'sbin', 'usr', 'etc', 'tmp', 'var', 'dev', 'root'], from, ['rescue', ...copied]));
    return await importRootfsTarball(out, ref, {
      os: 'freebsd',
      imageConfig: BASE_IMAGE_CONFIG,
      createdBy: `vessel image base --from ${from}`,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
