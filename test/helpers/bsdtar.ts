import { execFileSync } from 'node:child_process';
import tarStream from 'tar-stream';

/**
 * bsdtar's command line as FreeBSD's source has it: contrib/libarchive/tar/cmdline.c
 * (freebsd-src 0dcfecbf4757181cc7ed0ef23c4efcb470ba87a7), `short_options` and the long-option
 * table `tar_longopts`. bsdtar_getopt() stops at the first word that does not start with '-'
 * (later `-C DIR` words are operands that write.c handles in -c mode), and answers an unknown
 * long option with "Option --NAME is not supported".
 */
export const BSDTAR_SHORT_OPTIONS = 'aBb:C:cf:HhI:JjkLlmnOoPpqrSs:T:tUuvW:wX:xyZz';

export const BSDTAR_LONG_OPTIONS: ReadonlyArray<readonly [name: string, takesArgument: boolean]> = [
  ['absolute-paths', false], ['append', false], ['acls', false], ['auto-compress', false], ['b64encode', false],
  ['block-size', true], ['blocking-factor', true], ['bunzip2', false], ['bzip', false], ['bzip2', false], ['cd', true],
  ['check-links', false], ['chroot', false], ['clamp-mtime', false], ['clear-nochange-fflags', false], ['compress', false],
  ['confirmation', false], ['create', false], ['dereference', false], ['directory', true], ['disable-copyfile', false],
  ['exclude', true], ['exclude-from', true], ['exclude-vcs', false], ['extract', false], ['fast-read', false], ['fflags', false],
  ['file', true], ['files-from', true], ['format', true], ['gid', true], ['gname', true], ['group', true], ['grzip', false],
  ['gunzip', false], ['gzip', false], ['help', false], ['hfsCompression', false], ['ignore-zeros', false], ['include', true],
  ['insecure', false], ['interactive', false], ['keep-newer-files', false], ['keep-old-files', false], ['list', false],
  ['lrzip', false], ['lz4', false], ['lzip', false], ['lzma', false], ['lzop', false], ['mac-metadata', false],
  ['modification-time', false], ['mtime', true], ['newer', true], ['newer-ctime', true], ['newer-ctime-than', true],
  ['newer-mtime', true], ['newer-mtime-than', true], ['newer-than', true], ['no-acls', false], ['no-fflags', false],
  ['no-mac-metadata', false], ['no-read-sparse', false], ['no-recursion', false], ['no-safe-writes', false],
  ['no-same-owner', false], ['no-same-permissions', false], ['no-xattr', false], ['no-xattrs', false], ['nodump', false],
  ['nopreserveHFSCompression', false], ['norecurse', false], ['null', false], ['numeric-owner', false], ['older', true],
  ['older-ctime', true], ['older-ctime-than', true], ['older-mtime', true], ['older-mtime-than', true], ['older-than', true],
  ['one-file-system', false], ['options', true], ['owner', true], ['passphrase', true], ['posix', false],
  ['preserve-permissions', false], ['read-full-blocks', false], ['read-sparse', false], ['safe-writes', false],
  ['same-owner', false], ['same-permissions', false], ['strip-components', true], ['to-stdout', false], ['totals', false],
  ['uid', true], ['uname', true], ['uncompress', false], ['unlink', false], ['unlink-first', false], ['update', false],
  ['use-compress-program', true], ['uuencode', false], ['verbose', false], ['version', false], ['xattrs', false],
  ['xz', false], ['zstd', false],
];

/** GNU tar options vessel's Linux forms use that bsdtar does not have (and the prefixes GNU accepts for them). */
export const GNU_ONLY_TAR_OPTIONS = ['--xattrs-include', '--xattrs-exclude', '--warning', '--sort', '--no-overwrite-dir', '--transform', '--no-preserve'];

/**
 * The options of a tar argv (argv[0] = "tar") that bsdtar_getopt() would refuse, as its own
 * messages. Exact long names only: vessel never relies on bsdtar's unambiguous-prefix matching.
 */
export function bsdtarRefuses(argv: readonly string[]): string[] {
  const out: string[] = [];
  const long = new Map(BSDTAR_LONG_OPTIONS);
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-') break; // the first operand ends option parsing
    if (a.startsWith('--')) {
      const [name, value] = a.slice(2).split(/=(.*)/s) as [string, string | undefined];
      const takes = long.get(name);
      if (takes === undefined) out.push(`Option --${name} is not supported`);
      else if (takes && value === undefined) i++;
      else if (!takes && value !== undefined) out.push(`Option --${name} does not allow an argument`);
      continue;
    }
    for (let k = 1; k < a.length; k++) {
      const p = BSDTAR_SHORT_OPTIONS.indexOf(a[k]!);
      if (p < 0) {
        out.push(`illegal option -- ${a[k]!}`);
        break;
      }
      if (BSDTAR_SHORT_OPTIONS[p + 1] === ':') {
        if (k === a.length - 1) i++;
        break;
      }
    }
  }
  return out;
}

/** The value of one extended attribute of FILE, read back with bsdtar --xattrs (no getfattr needed). */
export async function xattrOf(dir: string, file: string, name: string): Promise<string | undefined> {
  const archive = execFileSync('bsdtar', ['-c', '-f', '-', '--xattrs', '--format', 'pax', '-C', dir, file]);
  const extract = tarStream.extract();
  let value: string | undefined;
  const done = new Promise<void>((res, rej) => {
    extract.on('entry', (h, stream, next) => {
      const pax = (h.pax ?? {}) as Record<string, string>;
      if (value === undefined) value = pax[`SCHILY.xattr.${name}`] ?? pax[`LIBARCHIVE.xattr.${name}`];
      stream.on('end', next);
      stream.resume();
    });
    extract.on('finish', res);
    extract.on('error', rej);
  });
  extract.end(archive);
  await done;
  return value;
}
