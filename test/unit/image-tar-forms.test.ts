import { describe, expect, it } from 'vitest';
import {
  baseLayerArgv, copyFileArgv, copySourceArgv, createArgv, extractArgv, isoToTarArgv, programFor, type TarFlavor,
} from '../../src/image/tar-forms.js';

/**
 * FreeBSD's /usr/bin/tar is bsdtar. Its options, as its own parser knows them
 * (freebsd-src contrib/libarchive/tar/cmdline.c: `short_options` and `tar_longopts`). bsdtar
 * matches a long option by unique prefix, so any word not in this table — GNU's
 * --xattrs-include, --warning, --sort, --transform, --no-overwrite-dir … — is a usage error
 * on FreeBSD ("Option --sort is not supported").
 */
const BSDTAR_SHORT = 'aBb:C:cf:HhI:JjkLlmnOoPpqrSs:T:tUuvW:wX:xyZz';
const BSDTAR_LONG = new Set([
  'absolute-paths', 'append', 'acls', 'auto-compress', 'b64encode', 'block-size', 'blocking-factor', 'bunzip2', 'bzip', 'bzip2',
  'cd', 'check-links', 'chroot', 'clamp-mtime', 'clear-nochange-fflags', 'compress', 'confirmation', 'create', 'dereference',
  'directory', 'disable-copyfile', 'exclude', 'exclude-from', 'exclude-vcs', 'extract', 'fast-read', 'fflags', 'file',
  'files-from', 'format', 'gid', 'gname', 'group', 'grzip', 'gunzip', 'gzip', 'help', 'hfsCompression', 'ignore-zeros',
  'include', 'insecure', 'interactive', 'keep-newer-files', 'keep-old-files', 'list', 'lrzip', 'lz4', 'lzip', 'lzma', 'lzop',
  'mac-metadata', 'modification-time', 'mtime', 'newer', 'newer-ctime', 'newer-ctime-than', 'newer-mtime', 'newer-mtime-than',
  'newer-than', 'no-acls', 'no-fflags', 'no-mac-metadata', 'no-read-sparse', 'no-recursion', 'no-safe-writes', 'no-same-owner',
  'no-same-permissions', 'no-xattr', 'no-xattrs', 'nodump', 'nopreserveHFSCompression', 'norecurse', 'null', 'numeric-owner',
  'older', 'older-ctime', 'older-ctime-than', 'older-mtime', 'older-mtime-than', 'older-than', 'one-file-system', 'options',
  'owner', 'passphrase', 'posix', 'preserve-permissions', 'read-full-blocks', 'read-sparse', 'safe-writes', 'same-owner',
  'same-permissions', 'strip-components', 'to-stdout', 'totals', 'uid', 'uname', 'uncompress', 'unlink', 'unlink-first', 'update',
  'use-compress-program', 'uuencode', 'verbose', 'version', 'xattrs', 'xz', 'zstd',
]);
const LONG_WITH_ARG = new Set(['block-size', 'blocking-factor', 'cd', 'directory', 'exclude', 'exclude-from', 'file', 'files-from', 'format', 'gid', 'gname', 'group', 'include', 'mtime', 'newer', 'newer-ctime', 'newer-ctime-than', 'newer-mtime', 'newer-mtime-than', 'newer-than', 'older', 'older-ctime', 'older-ctime-than', 'older-mtime', 'older-mtime-than', 'older-than', 'options', 'owner', 'passphrase', 'strip-components', 'uid', 'uname', 'use-compress-program']);

/** The options of a tar argv that bsdtar's parser would not accept (empty: all fine). */
function notBsdtar(argv: string[]): string[] {
  const bad: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('--')) {
      const name = a.slice(2).split('=')[0]!;
      if (!BSDTAR_LONG.has(name)) bad.push(a);
      else if (LONG_WITH_ARG.has(name) && !a.includes('=')) i++;
    } else if (a.startsWith('-') && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const at = BSDTAR_SHORT.indexOf(a[k]!);
        if (at < 0) { bad.push(`-${a[k]}`); break; }
        if (BSDTAR_SHORT[at + 1] === ':') {
          if (k === a.length - 1) i++;
          break;
        }
      }
    }
    // Anything else is an operand: a path, or @archive for bsdtar.
  }
  return bad;
}

/** Every tar form of tar-forms.ts for one flavor, with representative arguments. */
function tarForms(f: TarFlavor): Array<[string, string[]]> {
  return [
    ['extract as root', extractArgv(f, '/store/tmp/x', { root: true })],
    ['extract as a user', extractArgv(f, '/store/tmp/x', { root: false })],
    ['create', createArgv(f, '/merged', '/out.tar')],
    ['create gzip', createArgv(f, '/merged', '/out.tar.gz', 'gzip')],
    ['create xz', createArgv(f, '/merged', '/out.tar.xz', 'xz')],
    ['create zstd', createArgv(f, '/merged', '/out.tar.zst', 'zstd')],
    ['create appc', createArgv(f, '/merged', '/out.aci', 'gzip', { aci: { manifestDir: '/staging' } })],
    ['copy source', copySourceArgv(f, '/layer')],
    ['ISO 9660 to tar', isoToTarArgv(f, '/media/disc.iso')],
    ['image base', baseLayerArgv('/out.tar', '/stage', ['etc', 'usr'], '/', ['rescue'])],
  ];
}

describe('tar forms: FreeBSD gets only what bsdtar accepts', () => {
  it.each(tarForms('bsd'))('%s', (_what, argv) => {
    expect(argv[0]).toBe('tar');
    expect(notBsdtar(argv)).toEqual([]);
  });

  it('the check bites: the GNU forms use GNU-only options, which the FreeBSD side must never see', () => {
    const gnu = Object.fromEntries(tarForms('gnu').map(([what, argv]) => [what, notBsdtar(argv)]));
    expect(gnu['extract as root']).toEqual(['--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*', '--warning=no-unknown-keyword', '--warning=no-timestamp']);
    expect(gnu.create).toEqual(expect.arrayContaining(['--xattrs-include=*', '--sort=name']));
    expect(gnu['create appc']).toContain('--transform=s,^\\.,rootfs,S');
  });

  it('bsd extraction: -p and --same-owner first, then file flags and extattrs switched off (bsdtar reads options in order)', () => {
    const a = extractArgv('bsd', '/d', { root: true });
    expect(a).toEqual(['tar', '-x', '-f', '-', '-C', '/d', '--numeric-owner', '-p', '--same-owner', '--no-fflags', '--no-xattrs']);
    expect(a.indexOf('--no-fflags')).toBeGreaterThan(a.indexOf('-p'));
  });

  it('appc export renames members, never symlink targets (flag S), on both', () => {
    expect(createArgv('bsd', '/m', '/o', 'none', { aci: { manifestDir: '/s' } })).toEqual(['tar', '-c', '-f', '/o', '--numeric-owner', '-s', ',^\\.,rootfs,S', '-C', '/s', 'manifest', '-C', '/m', '.']);
    expect(createArgv('gnu', '/m', '/o', 'none', { aci: { manifestDir: '/s' } })).toContain('--transform=s,^\\.,rootfs,S');
  });

  it('cp: FreeBSD cp -pP (without -P it follows a symlink source), GNU cp -a', () => {
    expect(copyFileArgv('bsd', '/a', '/b')).toEqual(['cp', '-pP', '--', '/a', '/b']);
    expect(copyFileArgv('gnu', '/a', '/b')).toEqual(['cp', '-a', '--', '/a', '/b']);
  });

  it('the FreeBSD forms run as bsdtar off FreeBSD (the VESSEL_OS seam, the tests), as tar on FreeBSD', () => {
    const argv = extractArgv('bsd', '/d', { root: true });
    expect(programFor(argv, 'bsd', 'linux')[0]).toBe('bsdtar');
    expect(programFor(argv, 'bsd', 'freebsd')[0]).toBe('tar');
    expect(programFor(extractArgv('gnu', '/d', { root: true }), 'gnu', 'linux')[0]).toBe('tar');
    expect(programFor(copyFileArgv('bsd', '/a', '/b'), 'bsd', 'linux')[0]).toBe('cp');
  });
});
