import { isAbsolute, posix, resolve } from 'node:path';
import type { BindVolume, NamedVolume, TmpfsVolume, Volume } from './types.js';
import { invalid, show } from './fail.js';
import { validateName } from './name.js';
import { formatSize, parsePositiveSize } from './units.js';

/**
 * Volumes: `SRC:DST[:ro|rw]` (nullfs on FreeBSD, a bind mount on Linux), `NAME:DST[:ro|rw]` (a
 * named volume vessel keeps) and `tmpfs:DST[:size=16m][,mode=1777]`. Paths are absolute and
 * normalized; ':' separates fields, so a path cannot contain one (docker has the same limit in -v).
 */
export const DEFAULT_TMPFS_MODE = 0o1777;

function absolutePath(p: string, what: string, original: string): string {
  if (p === '') invalid(`${show(original)}: the ${what} is empty`);
  if (p.includes('\0')) invalid(`${show(original)}: the ${what} contains a NUL byte`);
  if (!p.startsWith('/')) invalid(`${show(original)}: the ${what} ${show(p)} is not an absolute path`);
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** A path inside the container: absolute, normalized, never `/` itself. */
export function containerPath(p: string, original: string = p): string {
  const n = absolutePath(p, 'container path', original);
  if (n === '/') invalid(`${show(original)}: cannot mount over the container's root /`);
  return n;
}

function parseTmpfsOptions(opts: string, original: string): Pick<TmpfsVolume, 'sizeBytes' | 'mode'> {
  const out: Pick<TmpfsVolume, 'sizeBytes' | 'mode'> = { mode: DEFAULT_TMPFS_MODE };
  if (opts === '') return out;
  for (const opt of opts.split(',')) {
    const eq = opt.indexOf('=');
    const k = eq < 0 ? opt : opt.slice(0, eq);
    const v = eq < 0 ? '' : opt.slice(eq + 1);
    if (k === 'size') out.sizeBytes = parsePositiveSize(v);
    else if (k === 'mode') {
      if (!/^[0-7]{3,4}$/.test(v)) invalid(`${show(original)}: mode ${show(v)} is not an octal mode like 1777`);
      out.mode = parseInt(v, 8);
    } else invalid(`${show(original)}: unknown tmpfs option ${show(opt)} (size=SIZE and mode=OCTAL are supported)`);
  }
  return out;
}

/** `DST[:size=…][,mode=…]` — the --tmpfs flag, and the part of a tmpfs volume after `tmpfs:`. */
export function parseTmpfs(text: string, original: string = text): TmpfsVolume {
  const colon = text.indexOf(':');
  const dst = colon < 0 ? text : text.slice(0, colon);
  const opts = colon < 0 ? '' : text.slice(colon + 1);
  return { kind: 'tmpfs', target: containerPath(dst, original), ...parseTmpfsOptions(opts, original) };
}

/**
 * docker's rule (`docker run -v`, compose's short syntax): a source with no '/' that does not
 * start with '.' or '~' is a volume's name, anything else a host path.
 */
export function isVolumeName(source: string): boolean {
  return source !== '' && !source.includes('/') && !source.startsWith('.') && !source.startsWith('~');
}

/** A named volume's name becomes a directory (or a ZFS dataset) under the state root: the container-name rule keeps it safe there. */
export function validateVolumeName(name: string): string {
  return validateName(name, 'volume name');
}

/**
 * `SRC:DST[:ro|rw]`, `NAME:DST[:ro|rw]` or `tmpfs:DST[:…]`. A relative SRC is an error unless
 * `cwd` is given (the -v flag, where docker users expect `-v ./site:/www` to mean the current directory).
 */
export function parseVolume(text: string, opts: { cwd?: string } = {}): Volume {
  if (text.startsWith('tmpfs:')) return parseTmpfs(text.slice('tmpfs:'.length), text);
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) {
    invalid(`${show(text)} is not a volume (use SRC:DST, SRC:DST:ro or tmpfs:DST[:size=16m])`);
  }
  let src = parts[0]!;
  const mode = parts[2] ?? 'rw';
  if (mode !== 'ro' && mode !== 'rw') invalid(`${show(text)}: ${show(mode)} is not ro or rw`);
  if (isVolumeName(src)) {
    let name: string;
    try {
      name = validateVolumeName(src);
    } catch {
      invalid(`${show(text)}: ${show(src)} is not a volume name (1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit)`,
        'a host path starts with / (or ./ on the command line)');
    }
    const named: NamedVolume = { kind: 'named', name, target: containerPath(parts[1]!, text), readonly: mode === 'ro' };
    return named;
  }
  if (src !== '' && !isAbsolute(src) && opts.cwd !== undefined) src = resolve(opts.cwd, src);
  const vol: BindVolume = {
    kind: 'bind',
    source: absolutePath(src, 'host path', text),
    target: containerPath(parts[1]!, text),
    readonly: mode === 'ro',
  };
  return vol;
}

/** The spec form of a volume; parseVolume(formatVolume(v)) deep-equals v. */
export function formatVolume(v: Volume): string {
  if (v.kind === 'bind') return `${v.source}:${v.target}:${v.readonly ? 'ro' : 'rw'}`;
  if (v.kind === 'named') return `${v.name}:${v.target}:${v.readonly ? 'ro' : 'rw'}`;
  const opts: string[] = [];
  if (v.sizeBytes !== undefined) opts.push(`size=${formatSize(v.sizeBytes)}`);
  opts.push(`mode=${(v.mode ?? DEFAULT_TMPFS_MODE).toString(8).padStart(4, '0')}`);
  return `tmpfs:${v.target}:${opts.join(',')}`;
}

/** Two volumes on the same container path would silently hide one another. */
export function checkVolumeTargets(volumes: readonly Volume[]): void {
  const seen = new Set<string>();
  for (const v of volumes) {
    if (seen.has(v.target)) invalid(`${show(v.target)} is the target of more than one volume`);
    seen.add(v.target);
  }
}
