import { lstatSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { VesselError, hasErrno } from '../../util/index.js';
import type { ContainerConfig } from '../types.js';
import { runFiles } from './names.js';

/**
 * The container's user as numbers, read from the image's own /etc/passwd and /etc/group here in
 * TypeScript. jexec(8) -U resolved the name with getpwnam(3) inside the jail, which reads
 * pwd.db (pwd_mkdb(8)) — OCI and Linux images have /etc/passwd only — and then applied the login
 * class (setusercontext(3), LOGIN_SETALL: PATH, umask, environment from login.conf(5)). The jail
 * exec helper takes these numbers and sets nothing else.
 */
export interface Identity {
  uid: number;
  gid: number;
  /** Primary gid first, then the supplementary groups the image's /etc/group gives the user. */
  groups: number[];
  /** The passwd entry's home directory, when there is one. */
  home?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** passwd(5): name:password:uid:gid:gecos:home:shell; lines that do not parse are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

/** group(5): name:password:gid:member,member. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

export interface ImageFiles {
  passwd?: string;
  group?: string;
  /** Where they were read, for error messages. */
  where: string;
}

/**
 * `name`, `uid`, `uid:gid`, `name:group` (the spec's user) → numbers. A numeric uid the image
 * does not know is used as it is with gid 0, as OCI runtimes do; an unknown name is an error.
 */
export function resolveIdentity(user: string, files: ImageFiles): Identity {
  const spec = user === '' ? 'root' : user;
  const [u, g] = spec.split(':') as [string, string | undefined];
  const passwd = parsePasswd(files.passwd ?? '');
  const groups = parseGroup(files.group ?? '');
  const entry = /^\d+$/.test(u) ? passwd.find((p) => p.uid === Number(u)) : passwd.find((p) => p.name === u);
  if (entry === undefined && !/^\d+$/.test(u)) {
    if (u === 'root') return { uid: 0, gid: 0, groups: [0] };
    throw new VesselError('E_SPEC', `user ${JSON.stringify(spec)}: no user ${JSON.stringify(u)} in the image's /etc/passwd (${files.where})`, {
      hint: 'set [container] user to a name the image defines, or to a numeric UID[:GID]',
    });
  }
  const uid = entry?.uid ?? Number(u);
  let gid = entry?.gid ?? 0;
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const named = groups.find((x) => x.name === g);
      if (named === undefined) {
        throw new VesselError('E_SPEC', `user ${JSON.stringify(spec)}: no group ${JSON.stringify(g)} in the image's /etc/group (${files.where})`, {
          hint: 'name a group the image defines, or give a numeric GID',
        });
      }
      gid = named.gid;
    }
  }
  // An explicit group replaces the supplementary ones too (as `docker run -u uid:gid` does).
  const extra = g === undefined && entry !== undefined ? groups.filter((x) => x.members.includes(entry.name)).map((x) => x.gid) : [];
  const all = [gid, ...extra.filter((x, i) => x !== gid && extra.indexOf(x) === i)];
  return { uid, gid, groups: all, ...(entry !== undefined && entry.home !== '' ? { home: entry.home } : {}) };
}

/** passwd and group files are small; a bigger one is not an account database. */
const MAX_ACCOUNT_FILE = 4 << 20;

/**
 * Read one file from the first directory that has it. These are the image's files read on the
 * host, so nothing on the way may be a symlink (it would be resolved against the host's own
 * tree: `etc -> /etc` would hand vessel the host's accounts) and the file must be a regular one
 * of sane size (a FIFO or `-> /dev/zero` would hang or exhaust the supervisor).
 */
function readFirst(dirs: string[], rel: string): string | undefined {
  for (const d of dirs) {
    // lstat each part: the first missing one means "not in this layer", a symlink is refused.
    let p = d;
    let st: Stats | undefined;
    for (const part of rel.split('/')) {
      p = join(p, part);
      try {
        st = lstatSync(p);
      } catch (e) {
        if (hasErrno(e, 'ENOENT') || hasErrno(e, 'ENOTDIR')) { st = undefined; break; }
        throw e;
      }
      if (st.isSymbolicLink()) throw notReadable(rel, 'reached through a symbolic link');
    }
    if (st === undefined) continue;
    if (!st.isFile()) throw notReadable(rel, 'not a regular file');
    if (st.size > MAX_ACCOUNT_FILE) throw notReadable(rel, `larger than ${MAX_ACCOUNT_FILE} bytes`);
    return readFileSync(p, 'utf8');
  }
  return undefined;
}

function notReadable(rel: string, why: string): VesselError {
  return new VesselError('E_IMAGE', `/${rel} in the image is ${why}; vessel reads it on the host to find the user's ids, so it must be a plain file`, {
    hint: 'fix the image, or set [container] user to a numeric UID[:GID]',
  });
}

/** passwd and group of a root: the image layers topmost first, or one directory (a ZFS clone, a running root). */
export function filesIn(dirs: string[], where: string): ImageFiles {
  const passwd = readFirst(dirs, 'etc/passwd');
  const group = readFirst(dirs, 'etc/group');
  return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}), where };
}

export function imageFiles(cfg: ContainerConfig): ImageFiles {
  if (cfg.root.layers.length > 0) return filesIn([...cfg.root.layers].reverse(), 'image layers');
  const rootfs = runFiles(cfg).rootfs;
  return filesIn([rootfs], rootfs);
}

/**
 * The identity from the image. A ZFS root exists only once it is cloned: before that (`vessel
 * plan`) a name cannot be read and `undefined` says so; start() asks again after the clone.
 */
export function containerIdentity(cfg: ContainerConfig, opts: { rootReady: boolean }): Identity | undefined {
  const user = cfg.user === '' ? 'root' : cfg.user;
  const numeric = /^\d+(:\d+)?$/.test(user);
  if (!opts.rootReady && cfg.root.layers.length === 0 && !numeric && user !== 'root') return undefined;
  let files: ImageFiles;
  try {
    files = imageFiles(cfg);
  } catch (e) {
    // Numeric ids and root need no account files: an image whose files cannot be read (or that
    // links /etc/passwd elsewhere, as some images do) still runs as them; only a name needs them.
    if ((!numeric && user !== 'root') || !(e instanceof VesselError) || e.code !== 'E_IMAGE') throw e;
    files = { where: 'none readable' };
  }
  return resolveIdentity(user, files);
}
