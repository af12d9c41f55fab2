import { hostOs, type OsName } from '../util/index.js';

/**
 * Every tar and cp command of vessel's image data path, per OS, as pure argv builders: GNU tar
 * and GNU cp on Linux, FreeBSD's base tools on FreeBSD. No other file builds a tar or cp argv
 * (test/unit/tar-forms.test.ts checks that, and runs every FreeBSD form with real bsdtar).
 *
 * FreeBSD's tar is bsdtar (libarchive). Its long options are the table `tar_longopts` in
 * contrib/libarchive/tar/cmdline.c: `--numeric-owner`, `--same-owner`, `--no-same-owner`,
 * `--same-permissions`, `--xattrs`, `--no-fflags`, `--gzip`, `--xz`, `--zstd` are there;
 * GNU's `--xattrs-include`, `--xattrs-exclude`, `--warning`, `--sort`, `--no-overwrite-dir`
 * and `--transform` are not, and bsdtar stops with "Option --… is not supported" on them.
 * FreeBSD has no `trusted.*` extended-attribute namespace (extattr(2): user and system only), so
 * overlayfs's own attributes cannot exist there to be excluded.
 */
export type TarCompression = 'none' | 'gzip' | 'xz' | 'zstd';

export interface TarForms {
  os: OsName;
  /**
   * Unpack one layer from stdin into `dest`. The entries were judged by the EntryChecker before
   * tar sees them; tar only writes.
   */
  extract(dest: string, root: boolean): string[];
  /**
   * A root filesystem `dir` as the archive `out` (image export). With `aci`, the tree goes under
   * rootfs/ and `aci.dir`/`aci.file` (the appc manifest) comes first.
   */
  createRootfs(dir: string, out: string, compression: TarCompression, aci?: { dir: string; file: string }): string[];
  /** A build tree as a gzip-compressed layer file. */
  createTreeLayer(tree: string, out: string): string[];
  /** A RUN step's upper directory as a tar stream on stdout. */
  streamTree(dir: string): string[];
  /** Copy a layer onto a directory that holds the layers below it: the two ends of a pipe. */
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
  /**
   * `cp` of a directory's contents into the build tree: an ADDed archive's unpacked layer keeps
   * its owners; a COPY source does not (its owner is set after by chown).
   */
  copyContents(fromDir: string, toDir: string, keepOwners: boolean): string[];
  /** `cp` of one COPY source file (its owner set after by chown). */
  copyPath(from: string, to: string): string[];
  /**
   * `vessel image base`: the staged tree's entries, then the base system's own. Only -c, -f and
   * -C, which both tars share; both store /rescue's hard links as links.
   */
  createBaseLayer(out: string, stage: string, stagedEntries: string[], from: string, baseEntries: string[]): string[];
}

const baseLayer = (out: string, stage: string, stagedEntries: string[], from: string, baseEntries: string[]): string[] =>
  ['tar', '-cf', out, '-C', stage, ...stagedEntries, '-C', from, ...baseEntries];

const COMPRESSION_FLAG: Record<TarCompression, string[]> = { none: [], gzip: ['--gzip'], xz: ['--xz'], zstd: ['--zstd'] };

/**
 * appc's rootfs/ prefix for every member name and hard-link target, never a symlink's target
 * (its `../lib/x` is relative to where the link is). GNU tar: transform scope flag `S` ("do not
 * apply to symbolic link targets"); bsdtar: `S` clears the rule's symlink flag (subst.c).
 */
const ROOTFS_PREFIX = ',^\\.,rootfs,S';

const GNU: TarForms = {
  os: 'linux',
  extract: (dest, root) => [
    'tar', '-x', '-f', '-', '-C', dest,
    '--numeric-owner', '--same-permissions', root ? '--same-owner' : '--no-same-owner',
    // All xattrs (security.capability, user.*) but never overlay's own: an archive must not be
    // able to set redirects or opaque flags on a lower directory; vessel sets those itself.
    '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*',
    '--warning=no-unknown-keyword', '--warning=no-timestamp',
  ],
  createRootfs: (dir, out, compression, aci) => [
    'tar', '-c', '-f', out, ...COMPRESSION_FLAG[compression],
    '--numeric-owner', '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*', '--sort=name',
    ...(aci ? [`--transform=s${ROOTFS_PREFIX}`, '-C', aci.dir, aci.file] : []),
    '-C', dir, '.',
  ],
  createTreeLayer: (tree, out) => ['tar', '-c', '-f', out, '--gzip', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', tree, '.'],
  streamTree: (dir) => ['tar', '-c', '-f', '-', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', dir, '.'],
  copyOut: (from) => ['tar', '-c', '-f', '-', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*', '-C', from, '.'],
  copyIn: (to) => ['tar', '-x', '-f', '-', '--numeric-owner', '--same-permissions', '--same-owner', '--xattrs', '--xattrs-include=*', '-C', to],
  overlayWhiteouts: (layerDir) => [
    'tar', '-x', '-f', '-', '-C', layerDir, '--numeric-owner', '--same-permissions', '--same-owner',
    '--xattrs', '--xattrs-include=trusted.overlay.opaque', '--no-overwrite-dir',
  ],
  copyContents: (fromDir, toDir, keepOwners) => ['cp', '-a', ...(keepOwners ? [] : ['--no-preserve=ownership']), `${fromDir}/.`, `${toDir}/`],
  copyPath: (from, to) => ['cp', '-a', '--no-preserve=ownership', from, to],
  createBaseLayer: baseLayer,
};

/**
 * bsdtar and FreeBSD's cp(1). Extraction adds `--no-fflags`: bsdtar run as root restores file
 * flags by default (bsdtar(1): "--fflags … the default behavior … if tar is run in x mode as
 * root"), and an image must not be able to leave schg/sunlnk files in the store that no `image
 * rm` could delete — GNU tar never restores BSD file flags either. bsdtar has no `--sort`: entry
 * order is the directory's, so an export or a build layer on FreeBSD is not byte-reproducible.
 * cp(1) on FreeBSD: `-a` is `-RpP`; there is no `--no-preserve` (the caller's chown sets the owner).
 */
const BSD: TarForms = {
  os: 'freebsd',
  extract: (dest, root) => [
    'tar', '-x', '-f', '-', '-C', dest,
    '--numeric-owner', '--same-permissions', root ? '--same-owner' : '--no-same-owner', '--xattrs', '--no-fflags',
  ],
  createRootfs: (dir, out, compression, aci) => [
    'tar', '-c', '-f', out, ...COMPRESSION_FLAG[compression], '--numeric-owner', '--xattrs',
    // -s must precede the first operand: bsdtar's option parser stops there (cmdline.c).
    ...(aci ? ['-s', ROOTFS_PREFIX, '-C', aci.dir, aci.file] : []),
    '-C', dir, '.',
  ],
  createTreeLayer: (tree, out) => ['tar', '-c', '-f', out, '--gzip', '--numeric-owner', '--xattrs', '-C', tree, '.'],
  streamTree: (dir) => ['tar', '-c', '-f', '-', '--numeric-owner', '--xattrs', '-C', dir, '.'],
  copyOut: (from) => ['tar', '-c', '-f', '-', '--numeric-owner', '--xattrs', '-C', from, '.'],
  copyIn: (to) => ['tar', '-x', '-f', '-', '--numeric-owner', '--same-permissions', '--same-owner', '--xattrs', '--no-fflags', '-C', to],
  overlayWhiteouts: undefined,
  copyContents: (fromDir, toDir) => ['cp', '-a', `${fromDir}/.`, `${toDir}/`],
  copyPath: (from, to) => ['cp', '-a', from, to],
  createBaseLayer: baseLayer,
};

export function tarForms(os: OsName = hostOs()): TarForms {
  return os === 'freebsd' ? BSD : GNU;
}
