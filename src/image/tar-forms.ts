import { platform } from 'node:os';
import { hostOs, onPath, type OsName } from '../util/index.js';

/**
 * Every tar, cp, decompressor and chattr command of vessel's image data path (image/ and
 * build/), per OS, as pure argv builders: GNU tar and GNU cp on Linux, FreeBSD's base tools on
 * FreeBSD. No other file builds a tar or cp argv (test/unit/tar-forms.test.ts checks that,
 * checks every FreeBSD form against bsdtar's and cp's option tables, and runs them with real
 * bsdtar).
 *
 * FreeBSD's tar is bsdtar (libarchive). Its options are `short_options` and the long-option
 * table `tar_longopts` in contrib/libarchive/tar/cmdline.c: `--numeric-owner`, `--same-owner`,
 * `--no-same-owner`, `-p`, `--no-fflags`, `--no-xattrs`, `--zstd`, `--options`, `-s` are there;
 * GNU's `--xattrs-include`, `--xattrs-exclude`, `--warning`, `--sort`, `--no-overwrite-dir` and
 * `--transform` are not, and bsdtar stops with "Option --… is not supported" on them.
 *
 * Every FreeBSD form names its program "tar", as FreeBSD runs it. Off FreeBSD (the VESSEL_OS=
 * freebsd test seam, which puts vessel on its FreeBSD path on Linux) the same program is installed
 * as "bsdtar" (Debian's libarchive-tools), and tarForms() names it so: the FreeBSD forms then run
 * for real, with the program FreeBSD has, instead of failing under GNU tar.
 */
export type TarCompression = 'none' | 'gzip' | 'xz' | 'zstd';

/** What a decompressor form can undo (bzip2 only comes in, in .aci and rootfs tarballs). */
export type Decompressible = Exclude<TarCompression, 'none'> | 'bzip2';

export interface TarForms {
  os: OsName;
  /**
   * Unpack one tar stream from stdin into `dest`. The entries were judged by the EntryChecker
   * before tar sees them; tar only writes (its own guards are a second line).
   */
  extract(dest: string, root: boolean): string[];
  /**
   * A root filesystem `dir` as the archive `out` ("-": stdout), compressed as asked (image
   * export). With `aci`, the tree is named rootfs/ and `aci.dir`/`aci.file` (the appc manifest)
   * comes first: the rename applies to member names and hard-link targets, never to symlink
   * targets (their `../lib/x` is relative to where the link is).
   */
  createRootfs(dir: string, out: string, compression: TarCompression, aci?: { dir: string; file: string }): string[];
  /** A build tree as a gzip-compressed layer file. */
  createTreeLayer(tree: string, out: string): string[];
  /** A RUN step's upper directory as a tar stream on stdout (its overlay deletion markers included). */
  streamTree(dir: string): string[];
  /**
   * FreeBSD: the paths named in the file `list` (NUL-separated, relative to `dir`), each alone
   * (no recursion), as a tar stream on stdout — a RUN step's changes read from its live root
   * (build/root-diff.ts; unionfs hides its whiteouts from tar, a ZFS clone has no upper
   * directory). Linux: none — a RUN step's layer is its overlay upper directory (streamTree).
   */
  streamPaths: ((dir: string, list: string) => string[]) | undefined;
  /** Copy a layer onto a directory that holds the layers below it (flatten, ZFS chain): the two ends of a pipe. */
  copyOut(from: string): string[];
  copyIn(to: string): string[];
  /**
   * Linux: overlayfs deletion markers (0/0 character devices, the `trusted.overlay.opaque`
   * directory attribute) written from a generated archive on stdin into a layer directory.
   * FreeBSD: none — unionfs and ZFS do not read overlay whiteouts, and FreeBSD has no trusted.*
   * namespace; a layer's deletions there are the record image/layer.ts keeps beside it, which
   * flatten.ts applies (ZFS clone roots, export).
   */
  overlayWhiteouts: ((layerDir: string) => string[]) | undefined;
  /** An ISO 9660 image as a pax stream on stdout: libarchive reads ISO 9660 (bsdtar on both OSes). */
  isoToTar(iso: string): string[];
  /**
   * `vessel image base`: the staged tree's entries, then the base system's own. Only -c, -f and
   * -C, which both tars share; both store /rescue's hard links as links.
   */
  createBaseLayer(out: string, stage: string, stagedEntries: string[], from: string, baseEntries: string[]): string[];
  /**
   * `cp` of a directory's contents into the build tree: an ADDed archive's unpacked layer keeps
   * its owners; a COPY source does not (its owner is set after by chown).
   */
  copyContents(fromDir: string, toDir: string, keepOwners: boolean): string[];
  /**
   * `cp` of one path with its mode and times: a COPY source file (owner set after by chown), or,
   * keeping owners, the file a hard link into a lower layer names (image/lower-links.ts).
   */
  copyPath(from: string, to: string, keepOwners: boolean): string[];
  /** A decompressor from stdin to stdout (FreeBSD's base tools; on Linux the same, or igzip for gzip). */
  decompress(kind: Decompressible): string[];
  /**
   * Linux: mark the image store's directory as a top of directory hierarchies (ext2/3/4's `T`
   * flag, FS_TOPDIR_FL), so each staging tree made in it is placed by the Orlov allocator in a
   * block group of its own instead of beside the trees just removed from the store (image/
   * store.ts says why that matters). Other file systems refuse the flag; that is harmless.
   * FreeBSD: none — UFS places new directories itself (ffs_dirpref), ZFS has no block groups.
   */
  spreadTrees: ((dir: string) => string[]) | undefined;
}

const baseLayer = (tar: string) => (out: string, stage: string, stagedEntries: string[], from: string, baseEntries: string[]): string[] =>
  [tar, '-cf', out, '-C', stage, ...stagedEntries, '-C', from, ...baseEntries];

const isoToTar = (bsdtar: string) => (iso: string): string[] => [bsdtar, '-c', '-f', '-', '--format', 'pax', '--numeric-owner', `@${iso}`];

const DECOMPRESS: Record<Decompressible, string[]> = { gzip: ['gzip', '-dc'], xz: ['xz', '-dc'], zstd: ['zstd', '-dc', '-q'], bzip2: ['bzip2', '-dc'] };
const decompress = (kind: Decompressible): string[] => [...DECOMPRESS[kind]];

/**
 * gzip on Linux: ISA-L's igzip (Debian's `isal`) where it is installed. GNU gzip inflates with
 * code of its own at half zlib's speed; igzip at 2–3× zlib's (bench/image-import.js measures
 * them all), in a process of its own like the other tools. Like gzip it checks every member's
 * CRC and length and reads concatenated members; unlike gzip it ignores bytes after the last
 * member without a word, where gzip warns and exits non-zero — vessel accepts that warning alone
 * (compression.ts onlyTrailingGarbage), so both tools import such a file. FreeBSD's base gzip
 * inflates with zlib.
 */
const gnuDecompress = (installed: Installed) => (kind: Decompressible): string[] => (kind === 'gzip' && installed.igzip ? ['igzip', '-dc'] : decompress(kind));

/** Optional tools that change a form where they are installed (looked up by tarForms(), once per process). */
export interface Installed {
  igzip: boolean;
}

/**
 * appc's rootfs/ prefix for every member name and hard-link target, never a symlink's target.
 * GNU tar: transform scope flag `S` ("do not apply to symbolic link targets"); bsdtar: `S` clears
 * the rule's symlink flag (subst.c).
 */
const ROOTFS_PREFIX = ',^\\.,rootfs,S';

/**
 * zstd runs on every core: on a machine with cores to spare an export is then faster than
 * `tar --zstd -c`, whose zstd runs on one. GNU: -I, which GNU tar splits into words itself.
 */
const GNU_COMPRESSION: Record<TarCompression, string[]> = { none: [], gzip: ['-z'], xz: ['-J'], zstd: ['-I', 'zstd -T0 -q'] };

/** All xattrs (security.capability, user.*) but never overlay's own, which only vessel sets. */
const GNU_XATTRS = ['--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*'];

/**
 * Extraction reads 1 MiB records: GNU tar writes a file's data as it lies in each record, so at
 * the default 10 KiB a 72 MB layer took ~7000 write(2)s and twice the kernel time of 1 MiB
 * (bench/image-import.js, on the core the decompressor leaves). Reading stdin, GNU tar fills each
 * record however the pipe delivers it (--read-full-records is on for stdin), and a short last
 * record is read as the archive's end, as at 10 KiB. bsdtar's -b sets its read size too, but it
 * takes what one read(2) gives, and a FreeBSD pipe gives at most its buffer (64 KiB): its form
 * keeps the default.
 */
const GNU_EXTRACT = (dest: string, root: boolean): string[] => [
  'tar', '-x', '-f', '-', '--record-size=1M', '-C', dest,
  '--numeric-owner', '--same-permissions', root ? '--same-owner' : '--no-same-owner',
  // An archive must not be able to set redirects or opaque flags on a lower directory.
  ...GNU_XATTRS,
  '--warning=no-unknown-keyword', '--warning=no-timestamp',
];

const gnuForms = (installed: Installed): TarForms => ({
  os: 'linux',
  extract: GNU_EXTRACT,
  createRootfs: (dir, out, compression, aci) => [
    'tar', '-c', '-f', out, '--numeric-owner', ...GNU_COMPRESSION[compression], ...GNU_XATTRS, '--sort=name',
    ...(aci ? [`--transform=s${ROOTFS_PREFIX}`, '-C', aci.dir, aci.file] : []),
    '-C', dir, '.',
  ],
  createTreeLayer: (tree, out) => ['tar', '-c', '-f', out, ...GNU_COMPRESSION.gzip, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', tree, '.'],
  streamTree: (dir) => ['tar', '-c', '-f', '-', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', dir, '.'],
  streamPaths: undefined,
  copyOut: (from) => ['tar', '-c', '-f', '-', '--numeric-owner', ...GNU_XATTRS, '-C', from, '.'],
  copyIn: (to) => GNU_EXTRACT(to, true),
  overlayWhiteouts: (layerDir) => [
    'tar', '-x', '-f', '-', '-C', layerDir, '--numeric-owner', '--same-permissions', '--same-owner',
    '--xattrs', '--xattrs-include=trusted.overlay.opaque', '--no-overwrite-dir',
  ],
  // Linux here cannot mount ISO 9660; libarchive's bsdtar reads it.
  isoToTar: isoToTar('bsdtar'),
  createBaseLayer: baseLayer('tar'),
  copyContents: (fromDir, toDir, keepOwners) => ['cp', '-a', ...(keepOwners ? [] : ['--no-preserve=ownership']), `${fromDir}/.`, `${toDir}/`],
  // -a also keeps xattrs (file capabilities).
  copyPath: (from, to, keepOwners) => ['cp', '-a', ...(keepOwners ? [] : ['--no-preserve=ownership']), '--', from, to],
  decompress: gnuDecompress(installed),
  spreadTrees: (dir) => ['chattr', '+T', dir],
});
const GNU_WITH_IGZIP = gnuForms({ igzip: true });
const GNU_PLAIN = gnuForms({ igzip: false });

/**
 * bsdtar and FreeBSD's cp(1), `tar` being the program's name (see the top).
 *
 * Extraction: -p and --same-owner (what bsdtar assumes for root anyway: bsdtar.c), then
 * --no-fflags and --no-xattrs, in that order because bsdtar applies options in order and -p turns
 * both on (bsdtar.c `case 'p'`: ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_FFLAGS). No file flags:
 * an archive's schg/sunlnk would leave files in the store that no `image rm` could delete (at
 * securelevel > 0 not even root) — GNU tar never restores BSD file flags either. No extattrs:
 * FreeBSD's "system" namespace holds ACLs' and MAC labels' data, which an image must not set, and a
 * Linux image's security.* / trusted.* names have no FreeBSD namespace (bsdtar would fail on them).
 * bsdtar refuses ".." and does not write through symlinks by default (SECURE_NODOTDOT, _SYMLINKS).
 * Since nothing in the store carries extattrs, the create forms leave bsdtar's default (read them).
 *
 * bsdtar has no `--sort`: entry order is the directory's, so an export or a build layer on FreeBSD
 * is not byte-reproducible. zstd: libarchive's own filter, option "threads" (0 = one per CPU).
 * `-s` must precede the first operand: bsdtar's option parser stops there (cmdline.c).
 *
 * cp(1) (bin/cp/cp.c getopt "HLPRafilNnprsvx", no long options): `-a` is -R -p -P — -P so that a
 * symlink source is copied as the link, not followed (without -R/-P cp.c uses FTS_COMFOLLOW) — and
 * there is no `--no-preserve` (the caller's chown sets the owner).
 */
function bsdForms(tar: string): TarForms {
  const extract = (dest: string, root: boolean): string[] =>
    [tar, '-x', '-f', '-', '-C', dest, '--numeric-owner', '-p', root ? '--same-owner' : '--no-same-owner', '--no-fflags', '--no-xattrs'];
  const compression: Record<TarCompression, string[]> = { none: [], gzip: ['-z'], xz: ['-J'], zstd: ['--zstd', '--options', 'zstd:threads=0'] };
  return {
    os: 'freebsd',
    extract,
    createRootfs: (dir, out, comp, aci) => [
      tar, '-c', '-f', out, '--numeric-owner', ...compression[comp],
      ...(aci ? ['-s', ROOTFS_PREFIX, '-C', aci.dir, aci.file] : []),
      '-C', dir, '.',
    ],
    createTreeLayer: (tree, out) => [tar, '-c', '-f', out, ...compression.gzip, '--numeric-owner', '-C', tree, '.'],
    streamTree: (dir) => [tar, '-c', '-f', '-', '--numeric-owner', '-C', dir, '.'],
    // bsdtar(1): -T reads the names to archive from a file, --null makes them NUL-terminated (so
    // any byte but NUL and '/' can be in a name) and turns off the list's "-C" lines (write.c
    // archive_names_from_file: `!bsdtar->option_null && strcmp(line, "-C") == 0`), -n archives a
    // named directory without what is in it; -C is where the relative names are looked up.
    streamPaths: (dir, list) => [tar, '-c', '-f', '-', '--numeric-owner', '-n', '--null', '-T', list, '-C', dir],
    copyOut: (from) => [tar, '-c', '-f', '-', '--numeric-owner', '-C', from, '.'],
    copyIn: (to) => extract(to, true),
    overlayWhiteouts: undefined,
    isoToTar: isoToTar(tar),
    createBaseLayer: baseLayer(tar),
    copyContents: (fromDir, toDir) => ['cp', '-a', `${fromDir}/.`, `${toDir}/`],
    copyPath: (from, to) => ['cp', '-a', '--', from, to],
    decompress,
    spreadTrees: undefined,
  };
}

const BSD_ON_FREEBSD = bsdForms('tar');
const BSD_ELSEWHERE = bsdForms('bsdtar');

/**
 * The forms for `os` (default: the OS vessel runs containers for, VESSEL_OS included), as run on
 * the platform `runsOn` (default: this machine's): FreeBSD's forms off FreeBSD name bsdtar. On
 * Linux, with the optional tools `installed` (default: looked up on PATH, once per process); the
 * forms themselves stay pure argv.
 */
export function tarForms(os: OsName = hostOs(), runsOn: string = platform(), installed?: Installed): TarForms {
  if (os === 'linux') return (installed ?? { igzip: onPath('igzip') }).igzip ? GNU_WITH_IGZIP : GNU_PLAIN;
  return runsOn === 'freebsd' ? BSD_ON_FREEBSD : BSD_ELSEWHERE;
}
