import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarForms, type TarForms } from '../../src/image/tar-forms.js';
import { GNU_ONLY_TAR_OPTIONS, bsdtarRefuses } from '../helpers/bsdtar.js';

/**
 * Issue 13 findings 1-4, item 2: one pure module holds every tar and cp argv of the image data
 * path per OS, and nothing GNU-only reaches the FreeBSD side. Checked here against bsdtar's own
 * option table (FreeBSD's contrib/libarchive/tar/cmdline.c, test/helpers/bsdtar.ts) and
 * cp.c's getopt string; test/integration/image-freebsd-tar.test.ts runs the same forms with real
 * bsdtar through the CLI.
 */
const SRC = resolve(__dirname, '..', '..', 'src');

/** Every argv a TarForms can produce, with representative arguments. */
function everyForm(f: TarForms): Array<[string, string[]]> {
  return [
    ['extract (root)', f.extract('/d', true)],
    ['extract (user)', f.extract('/d', false)],
    ...(['none', 'gzip', 'xz', 'zstd'] as const).map((c): [string, string[]] => [`createRootfs ${c}`, f.createRootfs('/r', '/o.tar', c)]),
    ['createRootfs aci', f.createRootfs('/r', '/o.aci', 'gzip', { dir: '/s', file: 'manifest' })],
    ['createTreeLayer', f.createTreeLayer('/t', '/o.tar.gz')],
    ['streamTree', f.streamTree('/u')],
    ['copyOut', f.copyOut('/l')],
    ['copyIn', f.copyIn('/z')],
    ['createBaseLayer', f.createBaseLayer('/o.tar', '/s', ['etc'], '/', ['rescue'])],
    ...(f.overlayWhiteouts ? [['overlayWhiteouts', f.overlayWhiteouts('/l')] as [string, string[]]] : []),
  ];
}

/** FreeBSD cp(1): bin/cp/cp.c `getopt(argc, argv, "HLPRafilNnprsvx")`, no long options. */
const FREEBSD_CP_OPTIONS = 'HLPRafilNnprsvx';

function cpRefuses(argv: string[]): string[] {
  const out: string[] = [];
  for (const a of argv.slice(1)) {
    if (!a.startsWith('-')) break;
    if (a.startsWith('--')) out.push(`cp: illegal option ${a}`);
    else for (const c of a.slice(1)) if (!FREEBSD_CP_OPTIONS.includes(c)) out.push(`cp: illegal option -- ${c}`);
  }
  return out;
}

describe('tar forms: the FreeBSD side is what bsdtar accepts', () => {
  for (const [what, argv] of everyForm(tarForms('freebsd'))) {
    it(`${what}: every option is in bsdtar's table`, () => {
      expect(argv[0]).toBe('tar');
      expect(bsdtarRefuses(argv)).toEqual([]);
      expect(argv.filter((a) => GNU_ONLY_TAR_OPTIONS.some((o) => a === o || a.startsWith(`${o}=`)))).toEqual([]);
    });
  }

  it('the check itself catches the GNU forms the FreeBSD path used to run (findings 1-3)', () => {
    const gnu = tarForms('linux');
    expect(bsdtarRefuses(gnu.extract('/d', true))).toEqual([
      'Option --xattrs-include is not supported', 'Option --xattrs-exclude is not supported',
      'Option --warning is not supported', 'Option --warning is not supported',
    ]);
    expect(bsdtarRefuses(gnu.createRootfs('/r', '/o', 'none'))).toContain('Option --sort is not supported');
    expect(bsdtarRefuses(gnu.createRootfs('/r', '/o', 'none', { dir: '/s', file: 'manifest' }))).toContain('Option --transform is not supported');
    expect(bsdtarRefuses(gnu.overlayWhiteouts!('/l'))).toContain('Option --no-overwrite-dir is not supported');
  });

  it('FreeBSD writes no overlay whiteouts (finding 4): unionfs and ZFS do not read them; the layer record is applied instead', () => {
    expect(tarForms('freebsd').overlayWhiteouts).toBeUndefined();
    expect(tarForms('linux').overlayWhiteouts).toBeDefined();
  });

  it('an extract on FreeBSD never restores file flags (bsdtar does as root by default): no schg files in the store', () => {
    expect(tarForms('freebsd').extract('/d', true)).toContain('--no-fflags');
    expect(tarForms('freebsd').copyIn('/z')).toContain('--no-fflags');
  });

  it('cp forms on FreeBSD take only cp.c\'s options (no GNU --no-preserve)', () => {
    const f = tarForms('freebsd');
    for (const argv of [f.copyContents('/a', '/b', true), f.copyContents('/a', '/b', false), f.copyPath('/a', '/b')]) expect(cpRefuses(argv)).toEqual([]);
    expect(cpRefuses(tarForms('linux').copyPath('/a', '/b'))).toEqual(['cp: illegal option --no-preserve=ownership']);
  });

  it('.aci export: the rootfs/ prefix is not applied to symlink targets (flag S, GNU and bsdtar)', () => {
    expect(tarForms('linux').createRootfs('/r', '/o', 'gzip', { dir: '/s', file: 'manifest' })).toContain('--transform=s,^\\.,rootfs,S');
    const bsd = tarForms('freebsd').createRootfs('/r', '/o', 'gzip', { dir: '/s', file: 'manifest' });
    expect(bsd.slice(bsd.indexOf('-s'), bsd.indexOf('-s') + 2)).toEqual(['-s', ',^\\.,rootfs,S']);
  });
});

describe('tar forms: one module', () => {
  function walk(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
    });
  }

  it('no other file of src/ builds a tar or cp argv', () => {
    const argvLiteral = /\[\s*'(tar|gtar|cp)'\s*,/;
    const elsewhere = walk(SRC)
      .filter((p) => relative(SRC, p) !== join('image', 'tar-forms.ts'))
      .filter((p) => argvLiteral.test(readFileSync(p, 'utf8')))
      .map((p) => relative(SRC, p));
    expect(elsewhere).toEqual([]);
  });

  it('hostOs() picks the form: VESSEL_OS=freebsd gives bsdtar\'s', () => {
    const saved = process.env.VESSEL_OS;
    process.env.VESSEL_OS = 'freebsd';
    try {
      expect(tarForms().os).toBe('freebsd');
    } finally {
      if (saved === undefined) delete process.env.VESSEL_OS;
      else process.env.VESSEL_OS = saved;
    }
  });
});
