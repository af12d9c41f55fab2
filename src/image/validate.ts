import { printableName, printableText, utf8Name } from './tar-headers.js';

/**
 * The judge of every tar stream vessel unpacks: each entry header is checked before the layer
 * may be committed. GNU tar does the writing (it creates device nodes, keeps owners, modes and
 * xattrs, refuses ".." members and delays dangerous symlinks); this checker is what decides
 * whether the result is accepted, so its rules are the store's safety rules.
 */
export interface ExtractLimits {
  /** Most entries one archive (or layer) may hold. */
  maxEntries: number;
  /** Most bytes of file content one archive may unpack to. */
  maxBytes: number;
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * 500k entries is several times a full Debian or FreeBSD base system; 64 GiB is far beyond any
 * application image. Both exist so a hostile archive cannot fill the disk or the inode table.
 */
export function defaultLimits(): ExtractLimits {
  return {
    maxEntries: envNumber('VESSEL_IMAGE_MAX_ENTRIES') ?? 500_000,
    maxBytes: envNumber('VESSEL_IMAGE_MAX_BYTES') ?? 64 * 1024 ** 3,
  };
}

/** The header fields the checker looks at (names are byte strings: see tar-headers.ts). */
export interface EntryHeader {
  name: string;
  type: string | null;
  linkname?: string | null | undefined;
  size?: number | undefined;
  /** What a file unpacks to (a sparse file's apparent size); the data size when absent. */
  realSize?: number | undefined;
  /** A sparse file whose map tar programs would not read alike (native/gate/sparse.h): why. */
  sparseProblem?: string | undefined;
}

/** The judge's answer: accept (undefined), unpack an empty placeholder instead, or refuse. */
export type Verdict = undefined | 'placeholder' | { refuse: string };

export const ALLOWED_TYPES = new Set([
  'file',
  'contiguous-file',
  'directory',
  'symlink',
  'link',
  'character-device',
  'block-device',
  'fifo',
]);

/** Split a member name into clean components, or say why it is not acceptable. */
export function splitMemberPath(name: string): string[] | string {
  if (name.startsWith('/')) return 'absolute path';
  if (name.includes('\0')) return 'NUL byte in name';
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') return 'path goes outside the image ("..")';
    parts.push(c);
  }
  return parts;
}

/** A hard link whose target a lower layer holds: unpacked as a placeholder, made a copy later. */
export interface ExternalLink {
  /** The link, and the file of a lower layer it names (clean relative paths, UTF-8). */
  name: string;
  target: string;
}

export class EntryChecker {
  entries = 0;
  bytes = 0;
  /** OCI whiteout markers seen (".wh.NAME"), as clean paths. */
  readonly whiteouts: string[] = [];
  /** Directories marked opaque (".wh..wh..opq" inside them). */
  readonly opaqueDirs: string[] = [];
  private readonly symlinks = new Set<string>();
  /** Every path this stream made something other than a directory (hard link targets). */
  private readonly nonDirs = new Set<string>();
  /** Placeholder path → the lower layer's file it stands for. */
  private readonly external = new Map<string, string>();

  constructor(
    private readonly limits: ExtractLimits,
    private readonly opts: { allowDevices: boolean; externalLinks?: boolean },
  ) {}

  /** Hard links to files of lower layers, in the order they came (the caller copies them in). */
  get externalLinks(): ExternalLink[] {
    return [...this.external].map(([name, target]) => ({ name: utf8Name(name)!, target: utf8Name(target)! }));
  }

  /** The verdict on one entry; a refusal says why. */
  check(h: EntryHeader): Verdict {
    const why = this.reason(h);
    if (why === undefined || why === 'placeholder') return why;
    return { refuse: why };
  }

  private reason(h: EntryHeader): string | 'placeholder' | undefined {
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      return `more than ${this.limits.maxEntries} entries (limit VESSEL_IMAGE_MAX_ENTRIES)`;
    }
    const type = h.type ?? 'unknown';
    if (!ALLOWED_TYPES.has(type)) return `unsupported entry type ${type}`;
    if (h.sparseProblem !== undefined) return `sparse map: ${printableText(h.sparseProblem)}`;
    const parts = splitMemberPath(h.name);
    if (typeof parts === 'string') return parts;
    const through = this.throughSymlink(parts);
    if (through !== undefined) return `parent "${printableName(through)}" is a symlink (writing through it could leave the image)`;
    if ((type === 'character-device' || type === 'block-device') && !this.opts.allowDevices) {
      return 'device nodes can only be unpacked as root';
    }
    const path = parts.join('/');
    let verdict: 'placeholder' | undefined;
    if (type === 'link') {
      const target = h.linkname ?? '';
      if (target === '') return 'hardlink without a target';
      const t = splitMemberPath(target);
      if (typeof t === 'string') return `hardlink target "${printableName(target)}": ${t}`;
      if (t.length === 0) return `hardlink target "${printableName(target)}" is the image root`;
      const tThrough = this.throughSymlink(t);
      if (tThrough !== undefined) return `hardlink target "${printableName(target)}" goes through symlink "${printableName(tThrough)}"`;
      const tPath = t.join('/');
      const lower = this.external.get(tPath);
      if (lower !== undefined || !this.nonDirs.has(tPath)) {
        // Not in this stream: a lower layer's file (OCI layers are diffs), copied in after unpacking.
        if (!this.opts.externalLinks) return `hardlink target "${printableName(target)}" is not in the archive`;
        if (utf8Name(path) === undefined || utf8Name(tPath) === undefined) return `hardlink to a lower layer with a name that is not UTF-8`;
        this.external.set(path, lower ?? tPath);
        verdict = 'placeholder';
      }
    }
    if (verdict === undefined) this.external.delete(path);
    if (type !== 'directory') this.nonDirs.add(path);
    if (type === 'symlink') {
      if (parts.length === 0) return 'the image root cannot be a symlink';
      // Absolute and ".." targets are data: they resolve inside the container's root at run time.
      this.symlinks.add(path);
    }
    if (type === 'file' || type === 'contiguous-file') {
      this.bytes += h.realSize ?? h.size ?? 0;
      if (this.bytes > this.limits.maxBytes) return `unpacks to more than ${this.limits.maxBytes} bytes (limit VESSEL_IMAGE_MAX_BYTES)`;
    }
    const base = parts[parts.length - 1] ?? '';
    if (base.startsWith('.wh.')) {
      const dir = parts.slice(0, -1).join('/');
      if (utf8Name(path) === undefined) return 'whiteout of a name that is not UTF-8';
      if (base === '.wh..wh..opq') this.opaqueDirs.push(utf8Name(dir)!);
      else this.whiteouts.push(utf8Name(path)!);
    }
    return verdict;
  }

  /** The first proper prefix of `parts` that an earlier entry made a symlink, if any. */
  private throughSymlink(parts: string[]): string | undefined {
    if (this.symlinks.size === 0) return undefined;
    let p = '';
    for (let i = 0; i < parts.length - 1; i++) {
      p = p ? `${p}/${parts[i]}` : parts[i]!;
      if (this.symlinks.has(p)) return p;
    }
    return undefined;
  }
}
