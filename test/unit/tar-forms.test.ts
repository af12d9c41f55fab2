import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarForms, type TarForms } from '../../src/image/tar-forms.js';
import { onPath } from '../../src/util/index.js';
import { GNU_ONLY_TAR_OPTIONS, bsdtarRefuses } from '../helpers/bsdtar.js';

/**
 * Issue 13 findings 1-4, item 2, and issue 15's FreeBSD forms: one pure module holds every tar,
 * cp and decompressor argv of the image data path (image/ and build/) per OS, and nothing
 * GNU-only reaches the FreeBSD side. Checked here against bsdtar's own option table (FreeBSD's
 * contrib/libarchive/tar/cmdline.c, test/helpers/bsdtar.ts) and cp.c's getopt string;
 * test/integration/image-freebsd-tar.test.ts runs the same forms with real bsdtar through the CLI.
 */
const SRC = resolve(__dirname, '..', '..', 'src');

/** The forms as FreeBSD runs them (program "tar"), and as Linux does. */
const BSD = tarForms('freebsd', 'freebsd');
const GNU = tarForms('linux', 'linux');

/** Every tar argv a TarForms can produce, with representative arguments. */
function everyTarForm(f: TarForms): Array<[string, string[]]> {
  return [
    ['extract (root)', f.extract('/d', true)],
    ['extract (user)', f.extract('/d', false)],
    ...(['none', 'gzip', 'xz', 'zstd'] as const).map((c): [string, string[]] => [`createRootfs ${c}`, f.createRootfs('/r', '/o.tar', c)]),
    ['createRootfs to stdout', f.createRootfs('/r', '-', 'none')],
    ['createRootfs aci', f.createRootfs('/r', '/o.aci', 'gzip', { dir: '/s', file: 'manifest' })],
    ['createTreeLayer', f.createTreeLayer('/t', '/o.tar.gz')],
    ['streamTree', f.streamTree('/u')],
    ['copyOut', f.copyOut('/l')],
    ['copyIn', f.copyIn('/z')],
    ['isoToTar', f.isoToTar('/media/disc.iso')],
    ['createBaseLayer', f.createBaseLayer('/o.tar', '/s', ['etc'], '/', ['rescue'])],
    ...(f.overlayWhiteouts ? [['overlayWhiteouts', f.overlayWhiteouts('/l')] as [string, string[]]] : []),
    ...(f.streamPaths ? [['streamPaths', f.streamPaths('/rootfs', '/staging/run-paths-1')] as [string, string[]]] : []),
  ];
}

function everyCpForm(f: TarForms): string[][] {
  return [f.copyContents('/a', '/b', true), f.copyContents('/a', '/b', false), f.copyPath('/a', '/b', true), f.copyPath('/a', '/b', false)];
}

/** FreeBSD cp(1): bin/cp/cp.c `getopt(argc, argv, "HLPRafilNnprsvx")`, no long options; `--` ends them. */
const FREEBSD_CP_OPTIONS = 'HLPRafilNnprsvx';

function cpRefuses(argv: string[]): string[] {
  const out: string[] = [];
  for (const a of argv.slice(1)) {
    if (a === '--' || !a.startsWith('-')) break;
    if (a.startsWith('--')) out.push(`cp: illegal option ${a}`);
    else for (const c of a.slice(1)) if (!FREEBSD_CP_OPTIONS.includes(c)) out.push(`cp: illegal option -- ${c}`);
  }
  return out;
}

describe('tar forms: the FreeBSD side is what bsdtar accepts', () => {
  for (const [what, argv] of everyTarForm(BSD)) {
    it(`${what}: every option is in bsdtar's table`, () => {
      expect(argv[0]).toBe('tar');
      expect(bsdtarRefuses(argv)).toEqual([]);
      expect(argv.filter((a) => GNU_ONLY_TAR_OPTIONS.some((o) => a === o || a.startsWith(`${o}=`)))).toEqual([]);
    });
  }

  it('the check itself catches the GNU forms the FreeBSD path used to run (findings 1-3)', () => {
    expect(bsdtarRefuses(GNU.extract('/d', true))).toEqual([
      'Option --record-size is not supported',
      'Option --xattrs-include is not supported', 'Option --xattrs-exclude is not supported',
      'Option --warning is not supported', 'Option --warning is not supported',
    ]);
    expect(bsdtarRefuses(GNU.createRootfs('/r', '/o', 'none'))).toContain('Option --sort is not supported');
    expect(bsdtarRefuses(GNU.createRootfs('/r', '/o', 'none', { dir: '/s', file: 'manifest' }))).toContain('Option --transform is not supported');
    expect(bsdtarRefuses(GNU.overlayWhiteouts!('/l'))).toContain('Option --no-overwrite-dir is not supported');
  });

  it('extraction on FreeBSD: -p and --same-owner first, then file flags and extattrs switched off (bsdtar applies options in order; -p turns both on)', () => {
    const a = BSD.extract('/d', true);
    expect(a).toEqual(['tar', '-x', '-f', '-', '-C', '/d', '--numeric-owner', '-p', '--same-owner', '--no-fflags', '--no-xattrs']);
    expect(BSD.extract('/d', false)).toContain('--no-same-owner');
  });

  it('cp forms on FreeBSD take only cp.c\'s options (no GNU --no-preserve); -a is -RpP, so a symlink source is copied as the link', () => {
    for (const argv of everyCpForm(BSD)) expect(cpRefuses(argv)).toEqual([]);
    expect(BSD.copyPath('/a', '/b', true)).toEqual(['cp', '-a', '--', '/a', '/b']);
    expect(GNU.copyPath('/a', '/b', true)).toEqual(['cp', '-a', '--', '/a', '/b']);
    expect(cpRefuses(GNU.copyPath('/a', '/b', false))).toEqual(['cp: illegal option --no-preserve=ownership']);
  });

  it('.aci export: the rootfs/ prefix is not applied to symlink targets (flag S, GNU and bsdtar), and -s comes before the first operand', () => {
    expect(GNU.createRootfs('/r', '/o', 'gzip', { dir: '/s', file: 'manifest' })).toContain('--transform=s,^\\.,rootfs,S');
    expect(BSD.createRootfs('/m', '/o', 'none', { dir: '/s', file: 'manifest' })).toEqual(
      ['tar', '-c', '-f', '/o', '--numeric-owner', '-s', ',^\\.,rootfs,S', '-C', '/s', 'manifest', '-C', '/m', '.'],
    );
  });

  it('a RUN step\'s changes on FreeBSD: the listed paths only (-n), names NUL-separated with the list\'s "-C" lines off (--null), looked up in the root (-C); Linux reads its overlay upper directory instead', () => {
    expect(BSD.streamPaths!('/rootfs', '/staging/list')).toEqual(['tar', '-c', '-f', '-', '--numeric-owner', '-n', '--null', '-T', '/staging/list', '-C', '/rootfs']);
    expect(GNU.streamPaths).toBeUndefined();
  });

  it('zstd exports compress on every core: GNU through zstd -T0, bsdtar through libarchive\'s threads option', () => {
    expect(GNU.createRootfs('/r', '/o', 'zstd')).toEqual(expect.arrayContaining(['-I', 'zstd -T0 -q']));
    expect(BSD.createRootfs('/r', '/o', 'zstd')).toEqual(expect.arrayContaining(['--zstd', '--options', 'zstd:threads=0']));
  });

  it('every tar and cp line of the FreeBSD golden transcripts (test/fixtures/freebsd) is one bsdtar and cp accept', () => {
    const fixtures = resolve(__dirname, '..', 'fixtures', 'freebsd');
    // Directories that are no transcript: the monitor's rights table, the native build's stubs,
    // the spec plans (freebsd-native.test.ts, freebsd-golden.test.ts's plan cases).
    const notTranscripts = new Set(['monitor-capsicum', 'native-stub', 'spec']);
    const cases = readdirSync(fixtures, { withFileTypes: true }).filter((d) => d.isDirectory() && !notTranscripts.has(d.name));
    const lines = cases.flatMap(({ name: d }) => {
      // commands.txt, or one per variant (setup/commands-fresh.txt): a case without one fails here
      const files = readdirSync(join(fixtures, d)).filter((f) => /^commands(-[\w.-]+)?\.txt$/.test(f));
      expect([d, files]).not.toEqual([d, []]);
      return files.flatMap((f) => readFileSync(join(fixtures, d, f), 'utf8').split('\n').filter((l) => /^(tar|cp) /.test(l)).map((l) => [`${d}/${f}: ${l}`, l.split(' ')] as const));
    });
    expect(lines.length).toBeGreaterThan(0);
    for (const [where, argv] of lines) expect([where, argv[0] === 'tar' ? bsdtarRefuses(argv) : cpRefuses(argv)]).toEqual([where, []]);
  });

  it('decompressors: the tools of FreeBSD\'s base (gzip, xz, zstd, bzip2), zstd without its progress output', () => {
    expect(GNU.decompress('zstd')).toEqual(['zstd', '-dc', '-q']);
    expect(['gzip', 'xz', 'zstd', 'bzip2'].map((k) => BSD.decompress(k as 'gzip')[0])).toEqual(['gzip', 'xz', 'zstd', 'bzip2']);
  });

  it('gzip on Linux: igzip (ISA-L) where installed — CI installs it (isal), so this test requires it', () => {
    expect(onPath('igzip')).toBe(true);
    expect(GNU.decompress('gzip')).toEqual(['igzip', '-dc']);
    // The forms stay pure: what is installed is an argument, looked up by tarForms() only.
    expect(tarForms('linux', 'linux', { igzip: false }).decompress('gzip')).toEqual(['gzip', '-dc']);
    expect(tarForms('linux', 'linux', { igzip: true }).decompress('gzip')).toEqual(['igzip', '-dc']);
    expect(tarForms('linux', 'linux', { igzip: false }).decompress('zstd')).toEqual(GNU.decompress('zstd'));
  });

  it('extraction on Linux reads 1 MiB records (GNU tar writes file data record by record: 10 KiB made ~100× the write(2)s); bsdtar keeps its default (a FreeBSD pipe gives a read 64 KiB at most)', () => {
    expect(GNU.extract('/d', true)).toContain('--record-size=1M');
    expect(BSD.extract('/d', true).some((a) => a === '-b' || a.startsWith('--record-size') || a.startsWith('--block-size'))).toBe(false);
  });

  it('the store spread over block groups: ext2/3/4\'s T flag on Linux; nothing on FreeBSD (UFS places directories itself)', () => {
    expect(GNU.spreadTrees?.('/var/lib/vessel/images')).toEqual(['chattr', '+T', '/var/lib/vessel/images']);
    expect(BSD.spreadTrees).toBeUndefined();
  });
});

describe('tar forms: one module, and the program that runs them', () => {
  function walk(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
    });
  }

  it('no other file of src/ builds a tar or cp argv', () => {
    const argvLiteral = /\[\s*'(tar|bsdtar|gtar|cp)'\s*,/;
    const elsewhere = walk(SRC)
      .filter((p) => relative(SRC, p) !== join('image', 'tar-forms.ts'))
      .filter((p) => argvLiteral.test(readFileSync(p, 'utf8')))
      .map((p) => relative(SRC, p));
    expect(elsewhere).toEqual([]);
  });

  it('the FreeBSD forms run as bsdtar off FreeBSD (the VESSEL_OS seam, the tests), as tar on FreeBSD; GNU tar and cp keep their names', () => {
    const off = tarForms('freebsd', 'linux');
    for (const [what, argv] of everyTarForm(off)) expect([what, argv[0]]).toEqual([what, 'bsdtar']);
    expect(everyTarForm(off).map(([, a]) => a.slice(1))).toEqual(everyTarForm(BSD).map(([, a]) => a.slice(1)));
    expect(off.copyPath('/a', '/b', true)[0]).toBe('cp');
    expect(GNU.extract('/d', true)[0]).toBe('tar');
    // Linux reads ISO 9660 through libarchive too.
    expect(GNU.isoToTar('/x.iso')[0]).toBe('bsdtar');
  });

  it('hostOs() picks the form: VESSEL_OS=freebsd gives bsdtar\'s', () => {
    const saved = process.env.VESSEL_OS;
    process.env.VESSEL_OS = 'freebsd';
    try {
      expect(tarForms().os).toBe('freebsd');
      expect(tarForms().extract('/d', true)).toContain('--no-fflags');
    } finally {
      if (saved === undefined) delete process.env.VESSEL_OS;
      else process.env.VESSEL_OS = saved;
    }
  });
});
