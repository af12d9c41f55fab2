import { platform } from 'node:os';
import { hostOs } from '../util/index.js';

/**
 * The one place that knows each OS's tar, cp and compressor command lines. Pure: every function
 * returns an argv; the callers run it through util/host.
 *
 *   gnu  Linux: GNU tar (and GNU cp)
 *   bsd  FreeBSD: /usr/bin/tar is bsdtar (libarchive), cp is FreeBSD's. Only options in bsdtar's
 *        own table (freebsd-src contrib/libarchive/tar/cmdline.c, tar_longopts and short_options)
 *        appear in these forms; test/unit/image-tar-forms.test.ts checks every one against that
 *        table and runs them with real bsdtar (Debian's libarchive-tools is the same program).
 *
 * Every form names its program "tar"; programFor() maps that to "bsdtar" when the FreeBSD forms
 * run on Linux (the VESSEL_OS=freebsd test seam, and the tests above), so they run for real there.
 */
export type TarFlavor = 'gnu' | 'bsd';

export type TarCompression = 'none' | 'gzip' | 'xz' | 'zstd';

/** The tar this host's image steps use: FreeBSD's base has bsdtar, Linux GNU tar. */
export function hostTarFlavor(): TarFlavor {
  return hostOs() === 'freebsd' ? 'bsd' : 'gnu';
}

/** The program to run for a form's argv[0] ("tar"): bsdtar is installed as "bsdtar" off FreeBSD. */
export function programFor(argv: readonly string[], flavor: TarFlavor, os: string = platform()): string[] {
  if (flavor === 'bsd' && argv[0] === 'tar' && os !== 'freebsd') return ['bsdtar', ...argv.slice(1)];
  return [...argv];
}

/**
 * Unpack a tar stream from stdin into `dest` (already judged entry by entry: the unpacker's own
 * guards are a second line).
 *
 * gnu: every xattr (security.capability, user.*) but never overlay's own: an archive must not set
 *      redirects or opaque flags on a lower directory; vessel sets those itself.
 * bsd: -p and --same-owner as bsdtar does for root anyway (bsdtar.c: "assume --same-owner and -p
 *      when run by the root user"), then --no-fflags: an archive's file flags (schg, sunlnk) would
 *      make a layer impossible to remove, at securelevel > 0 even for root; --no-xattrs: FreeBSD's
 *      "system" extattr namespace holds ACLs and MAC labels, which an image must not set, and a
 *      Linux image's security.* / trusted.* names have no FreeBSD namespace (bsdtar would fail).
 *      bsdtar refuses ".." and writes through symlinks by default (SECURE_NODOTDOT, _SYMLINKS).
 */
export function extractArgv(flavor: TarFlavor, dest: string, opts: { root: boolean }): string[] {
  const owner = opts.root ? '--same-owner' : '--no-same-owner';
  if (flavor === 'bsd') return ['tar', '-x', '-f', '-', '-C', dest, '--numeric-owner', '-p', owner, '--no-fflags', '--no-xattrs'];
  return [
    'tar', '-x', '-f', '-', '-C', dest,
    '--numeric-owner', '--same-permissions', owner,
    '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*',
    '--warning=no-unknown-keyword', '--warning=no-timestamp',
  ];
}

/**
 * Write the tree under `dir` as a tar file `out` ("-": stdout), compressed as asked (export, layer
 * copies). zstd runs on every core: on a machine with cores to spare an export is then faster
 * than `tar --zstd -c`, whose zstd runs on one (gnu: -I, which GNU tar splits into words itself;
 * bsd: libarchive's own zstd filter, "threads" option, 0 = one per CPU). With `aci`, the tree is
 * named rootfs/ and `aci.manifestDir/manifest` comes first (appc image format): the rename applies
 * to member names and hard link targets, never to symlink targets (flag S, in both GNU tar's
 * --transform and bsdtar's -s).
 */
export function createArgv(flavor: TarFlavor, dir: string, out: string, compression: TarCompression = 'none', opts: { aci?: { manifestDir: string } } = {}): string[] {
  const head = ['tar', '-c', '-f', out, '--numeric-owner'];
  const aciHead = opts.aci ? ['-C', opts.aci.manifestDir, 'manifest'] : [];
  if (flavor === 'bsd') {
    const comp = { none: [], gzip: ['-z'], xz: ['-J'], zstd: ['--zstd', '--options', 'zstd:threads=0'] }[compression];
    const rename = opts.aci ? ['-s', ',^\\.,rootfs,S'] : [];
    return [...head, ...comp, ...rename, ...aciHead, '-C', dir, '.'];
  }
  const comp = { none: [], gzip: ['-z'], xz: ['-J'], zstd: ['-I', 'zstd -T0 -q'] }[compression];
  const rename = opts.aci ? ['--transform=s,^\\.,rootfs,S'] : [];
  return [...head, ...comp, '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*', '--sort=name', ...rename, ...aciHead, '-C', dir, '.'];
}

/** The tar stream (stdout) of a layer directory as a copy source (applying a layer onto a flattened root). */
export function copySourceArgv(flavor: TarFlavor, dir: string): string[] {
  return createArgv(flavor, dir, '-');
}

/**
 * Overlay whiteouts (0/0 character devices, trusted.overlay.opaque) written from a small archive
 * vessel makes itself. Linux only: FreeBSD has no overlayfs and no trusted namespace; there the
 * deletions recorded beside the layer are applied when layers are stacked.
 */
export function overlayWhiteoutArgv(dest: string): string[] {
  return ['tar', '-x', '-f', '-', '-C', dest, '--numeric-owner', '--same-permissions', '--same-owner', '--xattrs', '--xattrs-include=trusted.overlay.opaque', '--no-overwrite-dir'];
}

/** An ISO 9660 image as a pax stream on stdout: libarchive reads ISO 9660 (bsdtar on both OSes). */
export function isoToTarArgv(flavor: TarFlavor, iso: string): string[] {
  return [flavor === 'bsd' ? 'tar' : 'bsdtar', '-c', '-f', '-', '--format', 'pax', '--numeric-owner', `@${iso}`];
}

/**
 * `vessel image base`: the staged tree, then the base's own files. Only -c, -f and -C, which both
 * tars share; both store /rescue's hard links as links, so the layer holds one copy of the binary.
 */
export function baseLayerArgv(out: string, stage: string, stagedEntries: string[], from: string, baseEntries: string[]): string[] {
  return ['tar', '-cf', out, '-C', stage, ...stagedEntries, '-C', from, ...baseEntries];
}

/**
 * A copy of one file with its owner, mode and times (a hard link whose target is a lower layer's
 * file becomes such a copy). gnu: cp -a also keeps xattrs (file capabilities). bsd: -p keeps
 * owner, mode, times, flags and ACLs (cp(1)); -P because without -R FreeBSD's cp otherwise
 * follows a symlink source (bin/cp/cp.c: "else if (!Pflag) … FTS_LOGICAL | FTS_COMFOLLOW").
 */
export function copyFileArgv(flavor: TarFlavor, from: string, to: string): string[] {
  if (flavor === 'bsd') return ['cp', '-pP', '--', from, to];
  return ['cp', '-a', '--', from, to];
}

type Compressed = Exclude<TarCompression, 'none'> | 'bzip2';

/** A decompressor from stdin to stdout (the same tools, in FreeBSD's base and on Linux). */
export function decompressArgv(kind: Compressed): string[] {
  const tool: Record<Compressed, string[]> = { gzip: ['gzip', '-dc'], xz: ['xz', '-dc'], zstd: ['zstd', '-dc', '-q'], bzip2: ['bzip2', '-dc'] };
  return tool[kind];
}
