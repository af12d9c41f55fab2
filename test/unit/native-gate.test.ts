import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { END, makeTar, pad, pax, ustar } from '../helpers/image.js';

/**
 * The native tar gate (native/gate) built here with the release warnings and AddressSanitizer/
 * UBSan, driven through src/image/gate.ts as vessel drives it, with a test judge. The unpacker is
 * `cat` into a file, so every test sees exactly the bytes the gate handed on. A missing compiler
 * fails the test.
 */
const repo = join(__dirname, '..', '..');
// Made in beforeAll (not at collection, which a run filtered away from this file still does).
let out = '';
process.env.ASAN_OPTIONS = 'detect_leaks=1:abort_on_error=0:exitcode=97';
process.env.UBSAN_OPTIONS = 'print_stacktrace=1:halt_on_error=1:exitcode=98';
const sanitize = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-g'];
const cflags = ['-std=c11', '-D_GNU_SOURCE', '-O1', '-Wall', '-Wextra', '-Werror', '-Wno-format-truncation', ...sanitize];
const gateSources = ['sha256', 'blob', 'feed', 'tarhdr', 'pax', 'sparse', 'walk', 'judge', 'spawn', 'follow', 'main'].map((f) => join(repo, 'native', 'gate', `${f}.c`));
let shaProbe = '';
let portableGate = '';

type GateModule = typeof import('../../src/image/gate.js');
let gate: GateModule;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'vessel-native-gate-'));
  process.env.VESSEL_LIBEXEC = out;
  shaProbe = join(out, 'gate-sha256');
  portableGate = join(out, 'vessel-tar-gate-portable');
  execFileSync('cc', [...cflags, '-o', join(out, 'vessel-tar-gate'), ...gateSources], { stdio: 'pipe' });
  execFileSync('cc', [...cflags, '-o', shaProbe, join(repo, 'native', 'test', 'gate-sha256.c'), join(repo, 'native', 'gate', 'sha256.c')], { stdio: 'pipe' });
  // FreeBSD's path on Linux: without _GNU_SOURCE there is no vmsplice (feed.c writes, reserve 0).
  execFileSync('cc', [...cflags.filter((f) => f !== '-D_GNU_SOURCE'), '-D_DEFAULT_SOURCE', '-o', portableGate, ...gateSources], { stdio: 'pipe' });
  gate = await import('../../src/image/gate.js');
}, 120_000);
afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The syscall number of read(2), as /proc/PID/syscall shows it. */
const READ = ({ x64: 0, arm64: 63 } as Record<string, number>)[process.arch];

/** Pids of the processes whose parent is `pid`, with their names. */
const childrenOf = (pid: number): Array<{ pid: number; comm: string }> => {
  const kids: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
    if (text) kids.push(...text.split(' ').map(Number));
  }
  return kids.flatMap((k) => {
    try {
      return [{ pid: k, comm: readFileSync(`/proc/${k}/comm`, 'utf8').trim() }];
    } catch {
      return [];
    }
  });
};

/** Sleep without returning to the event loop: the judge held, reading nothing of the gate meanwhile. */
const hold = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** The process has exited (its descriptors closed) but is not reaped yet: this thread, held, has not seen it go. */
const zombie = (pid: number): boolean => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] === 'Z';

describe('SHA-256 (native/gate/sha256.c)', () => {
  const probe = (input: Buffer | string, args: string[]) => {
    const r = spawnSync(shaProbe, args, { input, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout.trim().split(' ');
  };
  const impls = [[], ['portable']];

  it('gives FIPS 180-2\'s digests, with the portable code and with the SHA extensions when the CPU has them', () => {
    const vectors: Array<[string, string]> = [
      ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
      ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
      ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
      ['abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu', 'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1'],
    ];
    for (const impl of impls) {
      for (const [text, digest] of vectors) expect(probe(text, impl)[0]).toBe(digest);
      // a million 'a', fed whole and in pieces that straddle the 64-byte blocks
      for (const piece of ['65536', '1', '63', '65']) expect(probe('', [...impl, 'million', piece])[0]).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
    }
    expect(probe('', ['portable'])[1]).toBe('portable');
  });

  it('agrees with OpenSSL on random data of every length around the block and padding boundaries', () => {
    for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100_003, 1 << 20]) {
      const data = randomBytes(n);
      for (const impl of impls) for (const piece of ['7', '4096']) expect([n, probe(data, [...impl, piece])[0]]).toEqual([n, sha256(data)]);
    }
  });
});

interface Seen {
  line: string;
  sparse?: string | undefined;
  realSize: number;
}

interface Run {
  entries: Seen[];
  /** What the gate said of its progress (bytes read). */
  read: number[];
  /** ... and of the input file (how far its decompressor had read it, when known). */
  input: Array<number | undefined>;
  passed: Buffer;
  report: Awaited<import('../../src/image/gate.js').Gate['report']>;
}

/**
 * Run the gate on `data` (written into its stdin, or a file/decompressor when given) with a judge
 * answering `verdict`; what it judged, handed on, and reported.
 */
async function runGate(data: Buffer, opts: { maxRead?: number; verdict?: (name: string, type: string | null) => 'a' | 'p' | 'r'; decompress?: 'zstd'; unpack?: string[]; stop?: boolean; file?: boolean; blobDigest?: boolean; bin?: string } = {}): Promise<Run> {
  const sink = join(out, `passed-${Math.random().toString(36).slice(2)}`);
  writeFileSync(sink, '');
  const entries: Seen[] = [];
  const read: number[] = [];
  const inputRead: Array<number | undefined> = [];
  let input: number | 'pipe' = 'pipe';
  let fd: number | undefined;
  if (opts.decompress || opts.file) {
    const f = join(out, `in-${Math.random().toString(36).slice(2)}`);
    writeFileSync(f, data);
    fd = openSync(f, 'r');
    input = fd;
  }
  if (opts.bin) process.env.VESSEL_TAR_GATE = opts.bin;
  let g: ReturnType<GateModule['startGate']>;
  try {
    g = gate.startGate({
      input,
      ...(opts.decompress ? { decompress: { kind: opts.decompress, argv: ['zstd', '-dc', '-q'] } } : {}),
      unpack: opts.unpack ?? ['sh', '-c', 'cat > "$0"', sink],
      hash: true,
      ...(opts.maxRead ? { maxRead: opts.maxRead } : {}),
      ...(opts.blobDigest ? { blobDigest: true } : {}),
      onRead: (n, i) => { read.push(n); inputRead.push(i); },
      judge: (e) => {
        entries.push({ line: `${e.type} ${e.name} ${e.linkname ?? ''} ${e.type === 'file' ? e.size : ''}`, sparse: e.sparseProblem, realSize: e.realSize });
        const v = opts.verdict?.(e.name, e.type) ?? 'a';
        return v === 'a' ? undefined : v === 'p' ? 'placeholder' : { refuse: 'refused by the test' };
      },
    });
  } finally {
    delete process.env.VESSEL_TAR_GATE;
  }
  if (fd !== undefined) closeSync(fd);
  if (g.stdin) {
    if (opts.stop) {
      g.stdin.write(data.subarray(0, Math.min(data.length, 4096)));
      setTimeout(() => g.stop(), 200);
    } else {
      g.stdin.end(data);
    }
  }
  const report = await g.report;
  return { entries, read, input: inputRead, passed: readFileSync(sink), report };
}

/** What tar-stream (a full parser) sees: the reference for the gate's walk. */
async function withTarStream(data: Buffer): Promise<string[]> {
  const ex = tarStream.extract();
  const seen: string[] = [];
  ex.on('entry', (h, s, next) => {
    seen.push(`${h.type} ${h.name} ${h.linkname ?? ''} ${h.type === 'file' ? h.size : ''}`);
    s.on('end', () => next());
    s.resume();
  });
  const done = new Promise<void>((res, rej) => { ex.on('finish', () => res()); ex.on('error', rej); });
  ex.end(data);
  await done;
  return seen;
}

describe('the gate walks real archives like a full parser', () => {
  // Made in beforeAll, not at collection: a run filtered by -t would make it and never remove it.
  let dir = '';
  let tree = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vessel-gate-tree-'));
    tree = join(dir, 'tree');
    const long = 'd'.repeat(120);
    mkdirSync(join(tree, long, 'sub'), { recursive: true });
    writeFileSync(join(tree, long, 'sub', 'f'.repeat(110)), 'x'.repeat(1000));
    writeFileSync(join(tree, 'small'), 'hi');
    writeFileSync(join(tree, 'empty'), '');
    linkSync(join(tree, 'small'), join(tree, 'hard'));
    symlinkSync(`/${'t'.repeat(150)}`, join(tree, 'longlink'));
    symlinkSync('/etc/passwd', join(tree, 'abs'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['GNU tar, gnu format', ['tar', '--format=gnu']],
    ['GNU tar, pax format', ['tar', '--format=pax']],
    ['bsdtar, pax format', ['bsdtar', '--format', 'pax']],
    ['bsdtar, ustar format (what ustar cannot hold left out)', ['bsdtar', '--format', 'ustar', '--exclude', 'longlink', '--exclude', `./${'d'.repeat(120)}`]],
  ])('%s: every entry judged, every byte handed on and hashed, however the reads split it', async (_what, argv) => {
    const data = execFileSync(argv[0]!, [...argv.slice(1), '-c', '-f', '-', '-C', tree, '.'], { maxBuffer: 1 << 26 });
    const ref = await withTarStream(data);
    expect(ref.length).toBeGreaterThanOrEqual(5);
    for (const maxRead of [1, 7, 512, 513, 65536]) {
      const r = await runGate(data, { maxRead });
      expect([maxRead, r.entries.map((e) => e.line)]).toEqual([maxRead, ref]);
      expect(r.passed.equals(data)).toBe(true);
      expect(r.report).toMatchObject({ readAll: true, diffId: `sha256:${sha256(data)}`, bytes: data.length, unpacker: 'ok', decompressor: '-' });
      expect(r.report.bad).toBeUndefined();
    }
  }, 60_000);

  it('reads tar-stream\'s and Python\'s archives (long names in pax, ustar prefixes)', async () => {
    const a = await makeTar([{ name: 'a', type: 'directory' }, { name: 'a/b', content: 'data' }, { name: 'l', type: 'symlink', linkname: '/x' }, { name: `p/${'q'.repeat(200)}`, content: 'long' }]);
    expect((await runGate(a, { maxRead: 100 })).entries.map((e) => e.line)).toEqual(await withTarStream(a));
    const f = join(dir, 'py.tar');
    execFileSync('python3', ['-c', `import tarfile, io\nt = tarfile.open('${f}', 'w', format=tarfile.USTAR_FORMAT)\nti = tarfile.TarInfo('${'p'.repeat(120)}/${'n'.repeat(90)}'); ti.size = 3\nt.addfile(ti, io.BytesIO(b'abc'))\nt.close()`]);
    const py = readFileSync(f);
    expect((await runGate(py)).entries.map((e) => e.line)).toEqual([`file ${'p'.repeat(120)}/${'n'.repeat(90)}  3`]);
  });

  it('reads a zstd stream through the decompressor it starts: same entries, the digest of the plain tar', async () => {
    const data = execFileSync('tar', ['-c', '-f', '-', '-C', tree, '.']);
    const zst = execFileSync('zstd', ['-c', '-q'], { input: data });
    const r = await runGate(zst, { decompress: 'zstd' });
    expect(r.passed.equals(data)).toBe(true);
    expect(r.report).toMatchObject({ readAll: true, diffId: `sha256:${sha256(data)}`, unpacker: 'ok', decompressor: 'ok' });
  });
});

describe('the gate hands on nothing the judge has not accepted', () => {
  it('a refused entry is never handed on, even when its header block is split across reads, nor anything after it', async () => {
    // "a" (header + one data block), then the refused entry's header at byte 1024
    const data = await makeTar([{ name: 'a', content: 'data' }, { name: 'evil', content: 'x' }, { name: 'after', content: 'y' }]);
    const refused = 1024;
    expect(data.toString('latin1', refused, refused + 4)).toBe('evil');
    for (const maxRead of [1, 7, 100, 511, 513, refused + 100, refused + 511, 65536]) {
      const r = await runGate(data, { maxRead, verdict: (name) => (name === 'evil' ? 'r' : 'a') });
      expect([maxRead, r.passed.length <= refused, r.passed.equals(data.subarray(0, r.passed.length))]).toEqual([maxRead, true, true]);
      expect(r.report.readAll).toBe(false);
      expect(r.report.refused).toEqual({ name: 'evil', why: 'refused by the test' });
      expect(r.report.diffId).toBeUndefined();
    }
  });

  it('a placeholder is an empty regular file\'s header: valid checksum, type 0, no link name; the framing kept', async () => {
    const data = await makeTar([{ name: 'lower', type: 'directory' }, { name: 'lower/link', type: 'link', linkname: 'usr/bin/target' }, { name: 'next', content: 'n' }]);
    for (const maxRead of [1, 100, 512, 700, 65536]) {
      const r = await runGate(data, { maxRead, verdict: (_n, type) => (type === 'link' ? 'p' : 'a') });
      const passed = r.passed;
      expect(passed.length).toBe(data.length);
      const h = passed.subarray(512, 1024);
      expect(h.toString('latin1', 0, 10)).toBe('lower/link');
      expect(String.fromCharCode(h[156]!)).toBe('0');
      expect(h.subarray(157, 257).every((b) => b === 0)).toBe(true);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      expect(parseInt(h.toString('latin1', 148, 155), 8)).toBe(sum);
      expect(passed.subarray(0, 512).equals(data.subarray(0, 512))).toBe(true);
      expect(passed.subarray(1024).equals(data.subarray(1024))).toBe(true);
      // a full parser reads it as that file (tar-stream checks the checksum)
      expect(await withTarStream(passed)).toEqual(['directory lower  ', 'file lower/link  0', 'file next  1']);
      // the diff id is the stream as it came, not as rewritten
      expect(r.report.diffId).toBe(`sha256:${sha256(data)}`);
    }
  });

  it('Solaris\' X header is read as a pax header; progress is reported every 8 MiB read', async () => {
    const data = Buffer.concat([pax([['path', 'from-x']], 'X'), ustar({ name: 'short', size: 20 << 20 }), Buffer.alloc(20 << 20), END]);
    const r = await runGate(data);
    expect(r.entries.map((e) => e.line)).toEqual([`file from-x  ${20 << 20}`]);
    expect(r.read.length).toBe(2);
    expect(r.read[0]).toBeGreaterThanOrEqual(8 << 20);
    expect(r.read[1]).toBeGreaterThanOrEqual(16 << 20);
  });

  it('names are passed as bytes: control characters, quotes, spaces and bytes that are not UTF-8 arrive intact', async () => {
    const name = 'a b%c\x1b[2J"\\\xff\xfe\n/x';
    const data = Buffer.concat([pax([['path', name]]), ustar({ name: 'short' }), END]);
    const r = await runGate(data);
    expect(r.entries.map((e) => e.line)).toEqual([`file ${name}  0`]);
  });
});

describe('streams tar programs would read differently are stopped', () => {
  const cases: Array<[string, Buffer, RegExp, string | undefined]> = [
    // GNU tar and libarchive read no data after these, whatever the size field says: a header hidden
    // in that "data" would be unpacked without ever being judged.
    ['a symlink with data', Buffer.concat([ustar({ name: 'sl', type: '2', linkname: 't', size: 512 }), ustar({ name: 'hidden' }), END]), /^a symlink with 512 bytes of data \(tar programs disagree/, 'sl'],
    ['a hard link with data', Buffer.concat([ustar({ name: 't' }), ustar({ name: 'hl', type: '1', linkname: 't', size: 512 }), ustar({ name: 'hidden' }), END]), /^a link with 512 bytes/, 'hl'],
    ['a fifo with data', Buffer.concat([ustar({ name: 'f', type: '6', size: 1 }), Buffer.alloc(512), END]), /^a fifo with 1 bytes/, 'f'],
    ['a directory with data', Buffer.concat([ustar({ name: 'd', type: '5', size: 10 }), Buffer.alloc(512), END]), /^a directory with 10 bytes/, 'd'],
    ['a file named like a directory, with data', Buffer.concat([ustar({ name: 'd/', size: 10 }), Buffer.alloc(512), END]), /^a directory with 10 bytes/, 'd/'],
    ['two pax headers for one entry', Buffer.concat([pax([['path', 'a']]), pax([['path', 'b']]), ustar({ name: 'x' }), END]), /^two pax headers for one entry$/, undefined],
    ['a GNU long name and a pax path', Buffer.concat([ustar({ name: '././@LongLink', type: 'L', size: 4, magic: 'gnu' }), pad(Buffer.from('long')), pax([['path', 'b']]), ustar({ name: 'x' }), END]), /^both a GNU long name and a pax path/, undefined],
    ['a global header naming a path', Buffer.concat([pax([['path', 'evil']], 'g'), ustar({ name: 'x' }), END]), /^pax global header sets "path" for every entry$/, undefined],
    ['a malformed pax record', Buffer.concat([ustar({ name: 'P', type: 'x', size: 10 }), pad(Buffer.from('99 path=a\n')), ustar({ name: 'x' }), END]), /^invalid pax header/, undefined],
    ['a bad checksum', (() => { const b = Buffer.concat([ustar({ name: 'x', size: 2 }), pad(Buffer.from('hi')), END]); b[10] = 0x41; return b; })(), /bad checksum/, undefined],
    ['garbage', Buffer.from('not an archive\n'.repeat(200)), /bad checksum/, undefined],
    ['a negative base-256 size', (() => { const b = ustar({ name: 'x' }); b.fill(0xff, 124, 136); return Buffer.concat([b, END]); })(), /negative number field|bad checksum/, undefined],
  ];
  it.each(cases)('%s', async (_what, data, why, name) => {
    const r = await runGate(data, { maxRead: 300 });
    expect(r.report.bad).toMatchObject({ atEnd: false, name, why: expect.stringMatching(why) });
    expect(r.report.readAll).toBe(false);
    // Nothing of the entry reached the unpacker.
    expect(r.passed.toString('latin1')).not.toContain('hidden');
  });

  it('a stream that ends inside an entry, a header or before a pax header\'s entry is short (at its end)', async () => {
    const data = Buffer.concat([ustar({ name: 'x', size: 700 }), pad(Buffer.alloc(700, 1)), END]);
    for (const cut of [700, 300, 1024 + 100]) {
      const r = await runGate(data.subarray(0, cut));
      expect([cut, r.report.bad?.atEnd, r.report.bad?.why]).toEqual([cut, true, 'Unexpected end of data']);
      expect(r.report.readAll).toBe(true);
    }
    const orphan = await runGate(pax([['path', 'a']]));
    expect(orphan.report.bad?.why).toMatch(/a pax or long-name header without its entry/);
  });
});

describe('the gate\'s own exit', () => {
  // A stand-in gate (VESSEL_TAR_GATE): it writes a whole, clean report, then ends as given.
  const fake = async (tail: string): Promise<unknown> => {
    const script = join(out, `fake-gate-${Math.random().toString(36).slice(2)}`);
    writeFileSync(script, `#!/bin/sh\ncat > /dev/null\nprintf 'end all - 0 ok -\\n' >&3\n${tail}\n`, { mode: 0o755 });
    process.env.VESSEL_TAR_GATE = script;
    try {
      const g = gate.startGate({ input: 'pipe', unpack: ['true'], hash: true, judge: () => undefined });
      g.stdin!.end(Buffer.alloc(1024));
      return await g.report.then((r) => r, (e: unknown) => e);
    } finally {
      delete process.env.VESSEL_TAR_GATE;
    }
  };

  it('exit 0 after its report: the report stands', async () => {
    expect(await fake('exit 0')).toMatchObject({ readAll: true, bytes: 0, unpacker: 'ok' });
  });

  it('a non-zero exit or a signal after its report (a sanitizer at exit, a crash while releasing) is an error, not a clean extraction', async () => {
    expect(String(await fake('exit 97'))).toMatch(/vessel-tar-gate failed after its report \(exit 97\)/);
    expect(String(await fake('kill -SEGV $$'))).toMatch(/vessel-tar-gate failed after its report \(killed by SIGSEGV\)/);
  });

  // The race of "a million tiny entries" (image-corpus), made certain: the gate reads ahead of
  // the judge, so when it hears a refusal, more questions are already on their way; it stops
  // and reports. Here it also exits at once (as the gate did before it waited for the judge:
  // judge.h), while the judge is busy (held in onRead, the last line before them).
  it('after a refusal nothing more is answered: the questions asked ahead of it, then the report, are read even from a gate gone at once', async () => {
    const script = join(out, `ahead-gate-${Math.random().toString(36).slice(2)}`);
    writeFileSync(script, [
      '#!/bin/sh',
      'echo $$ > "$0.pid"',
      'cat > /dev/null',
      "printf 'e file 0 0 - :evil :\\n' >&3",
      'dd bs=1 count=1 <&3 > "$0.verdict" 2>/dev/null',
      "printf 'p 1024\\n' >&3",
      'while [ ! -e "$0.held" ]; do sleep 0.01; done',
      // More than one read of the judge's (64 KiB): the report is not in the first.
      `awk 'BEGIN { for (i = 0; i < 4000; i++) print "e file 0 0 - :after :"; print "end part - 1024 signal:9 -" }' >&3`,
      '',
    ].join('\n'), { mode: 0o755 });
    process.env.VESSEL_TAR_GATE = script;
    const judged: string[] = [];
    try {
      const g = gate.startGate({
        input: 'pipe',
        unpack: ['true'],
        hash: true,
        judge: (e) => {
          judged.push(e.name);
          return { refuse: 'refused by the test' };
        },
        onRead: () => {
          writeFileSync(`${script}.held`, '');
          const pid = Number(readFileSync(`${script}.pid`, 'utf8'));
          for (let i = 0; !zombie(pid); i++) {
            if (i > 2000) throw new Error('the stand-in gate never exited');
            hold(5);
          }
        },
      });
      g.stdin!.end(Buffer.alloc(1024));
      const report = await g.report.then((r) => r, (e: unknown) => e);
      expect(report).toMatchObject({ refused: { name: 'evil', why: 'refused by the test' }, readAll: false, bytes: 1024, unpacker: 'signal:9' });
      expect(readFileSync(`${script}.verdict`, 'latin1')).toBe('r');
      expect(judged).toEqual(['evil']);
    } finally {
      delete process.env.VESSEL_TAR_GATE;
    }
  });
});

describe('sparse files', () => {
  let dir = '';
  let real = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vessel-gate-sparse-'));
    const file = join(dir, 'sparse');
    // 3 data runs after holes, the last ending the file mid-block
    execFileSync('python3', ['-c', "import sys\nf = open(sys.argv[1], 'wb')\nfor i in range(3):\n  f.seek((i + 1) * 1024 * 1024); f.write(b'run %d' % i * 1000)\nf.close()", file]);
    real = readFileSync(file).length;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['GNU tar -S, gnu format', ['tar', '-S', '--format=gnu']],
    ['GNU tar -S, pax 0.0', ['tar', '-S', '--format=pax', '--sparse-version=0.0']],
    ['GNU tar -S, pax 0.1', ['tar', '-S', '--format=pax', '--sparse-version=0.1']],
    ['GNU tar -S, pax 1.0', ['tar', '-S', '--format=pax', '--sparse-version=1.0']],
    ['bsdtar, pax', ['bsdtar', '--format', 'pax']],
  ])('%s: a valid map, the real size, the real name', async (_what, argv) => {
    const data = execFileSync(argv[0]!, [...argv.slice(1), '-c', '-f', '-', '-C', dir, 'sparse']);
    for (const maxRead of [7, 65536]) {
      const r = await runGate(data, { maxRead });
      expect(r.entries).toEqual([{ line: `file sparse  ${r.entries[0]!.line.split(' ')[3]}`, sparse: undefined, realSize: real }]);
      expect(r.passed.equals(data)).toBe(true);
    }
  });

  /** A pax sparse entry (format 0.1 or 0.0 records, or 1.0 with `text` as its map). */
  function paxSparse(records: Array<[string, string]>, data: Buffer, type = '0'): Buffer {
    return Buffer.concat([pax(records), ustar({ name: 'GNUSparseFile.0/s', type, size: data.length }), pad(data), END]);
  }
  const badMaps: Array<[string, Buffer, RegExp]> = [
    ['a region past the real size (0.1)', paxSparse([['GNU.sparse.size', '1000'], ['GNU.sparse.map', '512,1024'], ['GNU.sparse.name', 's']], Buffer.alloc(1024)), /a region ends beyond the file's size/],
    // GNU tar reads each region padded to a block, libarchive back to back: they would part ways here
    ['a partial block before another region (0.1)', paxSparse([['GNU.sparse.size', '10000'], ['GNU.sparse.map', '0,100,4096,512'], ['GNU.sparse.name', 's']], Buffer.alloc(612)), /a region with data follows one that does not fill whole blocks/],
    ['regions that do not hold the data (0.1)', paxSparse([['GNU.sparse.size', '10000'], ['GNU.sparse.map', '0,512'], ['GNU.sparse.name', 's']], Buffer.alloc(1024)), /do not hold exactly the entry's data/],
    ['an odd map (0.1)', paxSparse([['GNU.sparse.size', '10000'], ['GNU.sparse.map', '0,512,7'], ['GNU.sparse.name', 's']], Buffer.alloc(512)), /odd count/],
    ['offsets that do not alternate (0.0)', paxSparse([['GNU.sparse.size', '10000'], ['GNU.sparse.numblocks', '1'], ['GNU.sparse.offset', '0'], ['GNU.sparse.offset', '0'], ['GNU.sparse.numbytes', '512']], Buffer.alloc(512)), /do not alternate/],
    ['a map text that is not numbers (1.0)', paxSparse([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10000'], ['GNU.sparse.name', 's']], pad(Buffer.from('1\n0\nx\n'))), /not decimal lines/],
    ['a map larger than the data (1.0)', paxSparse([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10000'], ['GNU.sparse.name', 's']], Buffer.from('2\n0\n512\n')), /larger than the entry's data/],
    ['GNU.sparse.size in 1.0 (libarchive reads it as the stored size)', paxSparse([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10000'], ['GNU.sparse.size', '5']], pad(Buffer.from('0\n'))), /GNU.sparse.size in a format 1.0 header/],
    ['an unknown version', paxSparse([['GNU.sparse.major', '2'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10000']], Buffer.alloc(0)), /unknown sparse format version/],
    ['sparse keywords on a symlink', Buffer.concat([pax([['GNU.sparse.size', '10'], ['GNU.sparse.map', '0,0']]), ustar({ name: 'l', type: '2', linkname: 't' }), END]), /only a regular file can be sparse/],
  ];
  it.each(badMaps)('%s: the judge hears why, and refuses', async (_what, data, why) => {
    const r = await runGate(data, { verdict: () => 'r' });
    expect(r.entries).toHaveLength(1);
    expect(r.entries[0]!.sparse).toMatch(why);
    // The pax header may have gone ahead; the entry's own header did not.
    const header = data.indexOf(data.includes('GNUSparseFile') ? 'GNUSparseFile' : 'l\0');
    expect(r.passed.length).toBeLessThanOrEqual(header);
    expect(r.passed.equals(data.subarray(0, r.passed.length))).toBe(true);
  });

  it('an old GNU header whose map does not hold its data', async () => {
    const data = execFileSync('tar', ['-S', '--format=gnu', '-c', '-f', '-', '-C', dir, 'sparse']);
    const h = Buffer.from(data.subarray(0, 512));
    // the first map entry's numbytes, one block shorter
    const n = parseInt(h.toString('latin1', 398, 410), 8);
    h.write(`${(n - 512).toString(8).padStart(11, '0')}\0`, 398, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const c of h) sum += c;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const r = await runGate(Buffer.concat([h, data.subarray(512)]), { verdict: () => 'r' });
    expect(r.entries[0]!.sparse).toMatch(/do not hold exactly the entry's data/);
  });
});

describe('the gate waits, after its report, until the judge has closed its end', () => {
  it('stopped on its own (a bad header) with thousands of questions unanswered: the judge answers late, into a gate still there, and reads the whole report', async () => {
    // 5000 empty files (their questions: more than one 64 KiB read of the judge's), then garbage.
    const one = ustar({ name: 'tiny' });
    const data = Buffer.alloc(512 * 5001, '!');
    for (let i = 0; i < 5000; i++) one.copy(data, i * 512);
    const file = join(out, `many-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, data);
    const fd = openSync(file, 'r');
    let judged = 0;
    const g = gate.startGate({
      input: fd,
      unpack: ['sh', '-c', 'cat > /dev/null'],
      hash: true,
      judge: () => {
        // The first question: held until the gate has read on, found the garbage and reported
        // (every answer still owed), and has exited, or waits on the judge's socket (fd 3).
        if (judged++ === 0) {
          const pid = childrenOf(process.pid).find((c) => c.comm.startsWith('vessel-tar-gat'))!.pid;
          for (let i = 0; ; i++) {
            if (zombie(pid)) break;
            const [nr, on] = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
            if (Number(nr) === READ && Number(on) === 3) break;
            if (i > 4000) throw new Error('the gate never finished its report');
            hold(5);
          }
        }
        return undefined;
      },
    });
    closeSync(fd);
    expect(READ).toBeDefined();
    const report = await g.report.then((r) => r, (e: unknown) => e);
    expect(report).toMatchObject({ bad: { atEnd: false, why: expect.stringMatching(/bad checksum/) }, readAll: false, bytes: data.length, unpacker: 'signal:9' });
    expect(judged).toBe(5000);
  });
});

describe('the gate\'s children', () => {
  it('a failing unpacker stops the gate: the stream is not read on, the outcome says so', async () => {
    const data = Buffer.concat([ustar({ name: 'big', size: 8 << 20 }), Buffer.alloc(8 << 20), END]);
    const r = await runGate(data, { unpack: ['sh', '-c', 'head -c 1000 >/dev/null; echo nope >&2; exit 3'] });
    expect(r.report.unpacker).toBe('exit:3');
    expect(r.report.readAll).toBe(false);
    await r.report.unpackerSaid.done();
    expect(r.report.unpackerSaid.last(1)).toBe('nope');
  });

  it('a truncated zstd stream: the decompressor\'s complaint comes back on its own pipe', async () => {
    // larger than zstd's 128 KiB block: what was decompressed before the cut comes out
    const data = Buffer.concat([ustar({ name: 'x', size: 400_000 }), pad(randomBytes(400_000)), END]);
    const zst = execFileSync('zstd', ['-c', '-q'], { input: data });
    const r = await runGate(zst.subarray(0, zst.length - 1000), { decompress: 'zstd' });
    expect(r.report.decompressor).toBe('exit:1');
    expect(r.report.bad).toMatchObject({ atEnd: true, why: 'Unexpected end of data' });
    await r.report.decompressorSaid!.done();
    expect(r.report.decompressorSaid!.last(1)).toMatch(/zstd|stdin/i);
  });

  it('stop() (SIGTERM): the gate kills its children, waits for them, and still reports', async () => {
    const r = await runGate(Buffer.concat([ustar({ name: 'x', size: 1 << 20 }), Buffer.alloc(1 << 20)]), { stop: true });
    expect(r.report.readAll).toBe(false);
    expect(r.report.unpacker).toBe('signal:9');
  });

  it('refuses to run without its judge or with a wrong command line (exit 125, one line)', () => {
    const bin = join(out, 'vessel-tar-gate');
    chmodSync(bin, 0o755);
    const noJudge = spawnSync(bin, ['--unpack', '1', 'true'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    expect([noJudge.status, noJudge.stderr.split('\n')[0]]).toEqual([125, 'vessel-tar-gate: fd 3 (the judge) is not open']);
    const bad = spawnSync(bin, ['--unpack', '9', 'true'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    expect([bad.status, bad.stderr.split('\n')[0]]).toEqual([125, 'vessel-tar-gate: --unpack N ARGV...']);
  });
});

/**
 * A stream several times the gate's ring (5 MiB): entries of odd sizes, so data, headers and the
 * ring's wrap fall everywhere relative to one another; a link entry (a placeholder candidate)
 * deep inside.
 */
function bigStream(mib: number): { data: Buffer; linkAt: number } {
  const parts: Buffer[] = [];
  let at = 0;
  let linkAt = -1;
  const push = (b: Buffer) => { parts.push(b); at += b.length; };
  for (let i = 0; at < mib << 20; i++) {
    const size = [1, 511, 513, 65_537, 300_001, 1_048_577, 2_000_003][i % 7]!;
    push(ustar({ name: `f${i}`, size }));
    push(pad(randomBytes(size)));
    if (i === 40) {
      linkAt = at;
      push(ustar({ name: `l${i}`, type: '1', linkname: 'f0' }));
    }
  }
  push(END);
  return { data: Buffer.concat(parts), linkAt };
}

/** An unpacker that reads slowly, in small pieces: the gate's ring fills while its pipe holds data. */
const slowUnpacker = (sink: string) => ['python3', '-c', 'import sys, time\nout = open(sys.argv[1], "wb")\nwhile True:\n  b = sys.stdin.buffer.read1(20000)\n  if not b: break\n  out.write(b)\n  time.sleep(0.0005)\n', sink];

interface Raw {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  end: string;
  passed: Buffer;
}

/** A gate binary started by startRawGate: its stream is the caller's to write (child.stdin). */
interface RawRun {
  child: ChildProcess;
  /** The file the unpacker writes what the gate handed on to. */
  sink: string;
  /** What the gate has said so far: on stderr, and its "end" line to the judge. */
  stderr: () => string;
  end: () => string;
  closed: Promise<Raw>;
}

/**
 * The gate binary BIN run directly (not through gate.ts, which does not look at its exit code),
 * a judge answering `verdict` per entry, SIGTERM once `termAfter` bytes were reported read. Its
 * exit status and stderr show what the sanitizers found.
 */
function startRawGate(bin: string, opts: { verdict?: (name: string) => string; termAfter?: number; maxRead?: number; slow?: boolean; env?: NodeJS.ProcessEnv } = {}): RawRun {
  const sink = join(out, `raw-${Math.random().toString(36).slice(2)}`);
  writeFileSync(sink, '');
  const unpack = opts.slow ? slowUnpacker(sink) : ['sh', '-c', 'exec cat > "$0"', sink];
  const args = [...(opts.maxRead ? ['--max-read', String(opts.maxRead)] : []), '--unpack', String(unpack.length), ...unpack];
  const c = spawn(bin, args, { stdio: ['pipe', 'ignore', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
  let stderr = '';
  c.stderr!.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
  const ctl = c.stdio[3] as import('node:net').Socket;
  ctl.on('error', () => undefined);
  c.stdin!.on('error', () => undefined);
  let partial = '';
  let end = '';
  ctl.setEncoding('latin1').on('data', (t: string) => {
    const lines = (partial + t).split('\n');
    partial = lines.pop()!;
    let answers = '';
    for (const l of lines) {
      const f = l.split(' ');
      if (f[0] === 'e') answers += opts.verdict?.(f[f[4] === '!' ? 6 : 5]!.slice(1)) ?? 'a';
      if (f[0] === 'p' && opts.termAfter !== undefined && Number(f[1]) >= opts.termAfter) c.kill('SIGTERM');
      if (f[0] === 'end') end = l;
    }
    if (answers) ctl.write(answers);
  });
  const closed = new Promise<Raw>((res) => c.on('close', (status, signal) => res({ status, signal, stderr, end, passed: readFileSync(sink) })));
  return { child: c, sink, stderr: () => stderr, end: () => end, closed };
}

/** startRawGate with the whole stream written at once. */
function rawGate(bin: string, data: Buffer, opts: Parameters<typeof startRawGate>[1] = {}): Promise<Raw> {
  const g = startRawGate(bin, opts);
  g.child.stdin!.end(data);
  return g.closed;
}

describe('the ring: hashed, walked and handed on in pieces, never overwritten while tar may still read it', () => {
  const big = bigStream(24);
  const digest = sha256(big.data);

  it('a stream several rings long, read in odd pieces, through a slow unpacker: every byte handed on intact, the digest right', async () => {
    for (const maxRead of [65_537, 1_048_575]) {
      const r = await runGate(big.data, { maxRead, unpack: slowUnpacker(join(out, `slow-${maxRead}`)) });
      const passed = readFileSync(join(out, `slow-${maxRead}`));
      expect([maxRead, passed.length, passed.equals(big.data)]).toEqual([maxRead, big.data.length, true]);
      expect(r.report).toMatchObject({ readAll: true, diffId: `sha256:${digest}`, bytes: big.data.length, unpacker: 'ok' });
    }
  }, 120_000);

  it('a placeholder deep in the stream: rewritten for the unpacker, hashed as it came', async () => {
    const r = await runGate(big.data, { maxRead: 99_999, verdict: (_n, type) => (type === 'link' ? 'p' : 'a') });
    expect(r.passed.length).toBe(big.data.length);
    expect(String.fromCharCode(r.passed[big.linkAt + 156]!)).toBe('0');
    expect(r.passed.subarray(0, big.linkAt).equals(big.data.subarray(0, big.linkAt))).toBe(true);
    expect(r.passed.subarray(big.linkAt + 512).equals(big.data.subarray(big.linkAt + 512))).toBe(true);
    expect(r.report.diffId).toBe(`sha256:${digest}`);
  }, 60_000);

  // ASan's leak check runs when the gate exits: status 0 and a quiet stderr.
  const builds = [['vmsplice (Linux)', () => join(out, 'vessel-tar-gate')], ['writes (FreeBSD\'s path, no vmsplice)', () => portableGate]] as const;
  it.each(builds)('ASan/UBSan, %s: accepted whole through a slow unpacker, refused mid-stream, SIGTERM mid-stream — exit 0, nothing reported', async (_what, bin) => {
    const whole = await rawGate(bin(), big.data, { maxRead: 77_777, slow: true });
    expect([whole.status, whole.stderr, whole.end]).toEqual([0, '', `end all ${digest} ${big.data.length} ok -`]);
    expect(whole.passed.equals(big.data)).toBe(true);
    const refused = await rawGate(bin(), big.data, { verdict: (name) => (name === 'f30' ? 'r' : 'a') });
    expect([refused.status, refused.stderr, refused.end.split(' ').slice(0, 3)]).toEqual([0, '', ['end', 'part', '-']]);
    const f30 = big.data.indexOf(ustar({ name: 'f30', size: [1, 511, 513, 65_537, 300_001, 1_048_577, 2_000_003][30 % 7]! }));
    expect(refused.passed.length).toBeLessThanOrEqual(f30);
    expect(refused.passed.equals(big.data.subarray(0, refused.passed.length))).toBe(true);
    const stopped = await rawGate(bin(), big.data, { termAfter: 8 << 20, slow: true });
    expect([stopped.status, stopped.stderr, stopped.end.split(' ').slice(0, 3)]).toEqual([0, '', ['end', 'part', '-']]);
    expect(stopped.passed.equals(big.data.subarray(0, stopped.passed.length))).toBe(true);
  }, 120_000);
});

/**
 * --blob-digest (native/gate/blob.c): the input file a decompressor reads, hashed by the gate beside
 * the stream (the compressed blob's digest); through both builds, under ASan/UBSan like the rest.
 */
describe('the blob\'s digest: the compressed input file hashed beside the stream', () => {
  const big = bigStream(24);
  const builds = [['Linux', () => join(out, 'vessel-tar-gate')], ['FreeBSD\'s path', () => portableGate]] as const;

  it.each(builds)('%s: a zstd layer: the file\'s digest and length, the diff id the plain tar\'s; the bar follows the file', async (_what, bin) => {
    const zst = execFileSync('zstd', ['-c', '-q', '-1'], { input: big.data, maxBuffer: 1 << 26 });
    const r = await runGate(zst, { decompress: 'zstd', blobDigest: true, bin: bin() });
    expect(r.report).toMatchObject({ readAll: true, diffId: `sha256:${sha256(big.data)}`, blob: { bytes: zst.length, digest: `sha256:${sha256(zst)}` }, unpacker: 'ok', decompressor: 'ok' });
    expect(r.passed.equals(big.data)).toBe(true);
    // how far zstd had read the file, every 8 MiB of the stream: never back, never past its end
    expect(r.input.length).toBeGreaterThanOrEqual(2);
    expect(r.input.every((n, i) => n !== undefined && n <= zst.length && (i === 0 || n >= r.input[i - 1]!))).toBe(true);
    // a file shorter than one piece, and an empty one (no tar in it: short, but hashed whole)
    for (const data of [zst.subarray(0, 1000), Buffer.alloc(0)]) {
      const small = await runGate(data, { decompress: 'zstd', blobDigest: true, bin: bin() });
      expect(small.report.readAll).toBe(true);
      expect(small.report.blob).toEqual({ bytes: data.length, digest: `sha256:${sha256(data)}` });
    }
  }, 60_000);

  it('a refused entry: no digest is reported (the gate stopped), and nothing of the entry reached tar', async () => {
    const data = await makeTar([{ name: 'a', content: 'data' }, { name: 'evil', content: 'x' }]);
    const zst = execFileSync('zstd', ['-c', '-q'], { input: data });
    const r = await runGate(zst, { decompress: 'zstd', blobDigest: true, verdict: (name) => (name === 'evil' ? 'r' : 'a') });
    expect(r.report.refused?.name).toBe('evil');
    expect(r.report.blob).toBeUndefined();
    expect(r.passed.toString('latin1')).not.toContain('evil');
  });

  it('refuses --blob-digest without a decompressor or without a file (exit 125, one line)', () => {
    const bin = join(out, 'vessel-tar-gate');
    const run = (args: string[], stdin: 'pipe' | number) => {
      const r = spawnSync(bin, [...args, '--unpack', '1', 'true'], { encoding: 'utf8', stdio: [stdin, 'ignore', 'pipe', 'pipe', 'pipe'] });
      return [r.status, r.stderr.split('\n')[0]];
    };
    const file = join(out, `usage-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    try {
      expect(run(['--blob-digest'], fd)).toEqual([125, 'vessel-tar-gate: --blob-digest: with --decompress, not --follow']);
      expect(run(['--blob-digest', '--decompress', '2', 'zstd', '-dc'], 'pipe')).toEqual([125, 'vessel-tar-gate: --blob-digest: fd 0 is not a regular file']);
    } finally {
      closeSync(fd);
    }
  });
});

/**
 * --follow (native/gate/follow.c): the gate reads a file a pull is still writing, woken through
 * fd 5, as layer-fetch.ts drives it: bytes appended first, a wakeup after, the channel closed
 * once the file is complete.
 */
describe('the follower: a file read as it grows', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vessel-gate-follow-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const fdPath = (pid: number, fd: number): string | undefined => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return undefined;
    }
  };
  /** The follower of `file` (the gate's child that is the gate's own program, reading the file), and the gate. */
  const follower = async (file: string): Promise<{ gate: number; follower: number }> => {
    for (let i = 0; i < 500; i++) {
      for (const g of childrenOf(process.pid).filter((c) => c.comm.startsWith('vessel-tar-gat'))) {
        const f = childrenOf(g.pid).find((c) => c.comm.startsWith('vessel-tar-gat') && fdPath(c.pid, 0) === file);
        if (f) return { gate: g.pid, follower: f.pid };
      }
      await sleep(10);
    }
    throw new Error(`no follower of ${file}`);
  };
  /** What a process costs while it waits: CPU ticks and context switches (all unchanged while it sleeps in one read). */
  const activity = (pid: number): string => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter((l) => /ctxt_switches/.test(l));
    return [stat[11], stat[12], ...status].join(' ');
  };
  /** Until the follower sleeps in read(2) on fd 5, the channel: everything appended has been read. */
  const waitingOnChannel = async (pid: number): Promise<void> => {
    for (let i = 0; i < 500; i++) {
      const [nr, fd] = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
      if (Number(nr) === READ && Number(fd) === 5) return;
      await sleep(10);
    }
    throw new Error('the follower never waited on its channel');
  };

  interface Followed {
    g: import('../../src/image/gate.js').Gate;
    file: string;
    sink: string;
    entries: string[];
  }
  const follow = (opts: { decompress?: 'zstd'; input?: string } = {}): Followed => {
    const name = Math.random().toString(36).slice(2);
    const file = opts.input ?? join(dir, `blob-${name}`);
    const sink = join(dir, `passed-${name}`);
    if (!opts.input) writeFileSync(file, '');
    writeFileSync(sink, '');
    const fd = openSync(file, 'r');
    const entries: string[] = [];
    const g = gate.startGate({
      input: { follow: fd },
      ...(opts.decompress ? { decompress: { kind: opts.decompress, argv: ['zstd', '-dc', '-q'] } } : {}),
      unpack: ['sh', '-c', 'cat > "$0"', sink],
      hash: true,
      judge: (e) => {
        entries.push(e.name);
        return undefined;
      },
    });
    closeSync(fd);
    return { g, file, sink, entries };
  };
  /** Append `data` to the file in bursts of irregular sizes, a wakeup after each; the follower drained between some. */
  const grow = async (f: Followed, data: Buffer, opts: { pauses?: boolean } = {}): Promise<void> => {
    const sizes = [1, 511, 7, 100_000, 1 << 20, 3, 65536, 2 << 20];
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      const n = Math.min(sizes[i % sizes.length]!, data.length - off);
      appendFileSync(f.file, data.subarray(off, off + n));
      off += n;
      f.g.notify!.write(Buffer.from([1]));
      if (opts.pauses && i % 3 === 2) await waitingOnChannel((await follower(f.file)).follower);
    }
  };

  const tarOf = (bytes: number) => Buffer.concat([ustar({ name: 'a', size: 10 }), pad(Buffer.from('0123456789')), ustar({ name: 'big', size: bytes }), pad(randomBytes(bytes)), END]);

  it('a file growing in bursts with pauses: every byte handed on and hashed; between bursts the follower sleeps on its channel (no spin, no poll)', async () => {
    expect(READ).toBeDefined();
    const data = tarOf(5 << 20);
    const f = follow();
    await grow(f, data.subarray(0, 3 << 20), { pauses: true });
    // Waiting: neither CPU time nor a single wakeup while the file stays as it is.
    const { follower: pid } = await follower(f.file);
    await waitingOnChannel(pid);
    const before = activity(pid);
    await sleep(300);
    expect(activity(pid)).toBe(before);
    await grow(f, data.subarray(3 << 20), { pauses: true });
    // The channel closed late, long after the last byte: the follower was waiting, and ends.
    await waitingOnChannel(pid);
    f.g.notify!.end();
    const r = await f.g.report;
    expect(r).toMatchObject({ readAll: true, diffId: `sha256:${sha256(data)}`, bytes: data.length, unpacker: 'ok', decompressor: '-' });
    expect(r.fail).toBeUndefined();
    expect(readFileSync(f.sink).equals(data)).toBe(true);
    expect(f.entries).toEqual(['a', 'big']);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, 60_000);

  it('a zstd layer followed: the decompressor reads the file as it grows', async () => {
    const data = tarOf(3 << 20);
    const zst = execFileSync('zstd', ['-c', '-q'], { input: data, maxBuffer: 16 << 20 });
    const f = follow({ decompress: 'zstd' });
    await grow(f, zst, { pauses: true });
    f.g.notify!.end();
    const r = await f.g.report;
    expect(r).toMatchObject({ readAll: true, diffId: `sha256:${sha256(data)}`, unpacker: 'ok', decompressor: 'ok' });
    expect(readFileSync(f.sink).equals(data)).toBe(true);
  }, 60_000);

  it('without splice (FreeBSD\'s path: pread and write), in bursts with pauses: the same bytes', async () => {
    const data = tarOf(3 << 20);
    process.env.VESSEL_TAR_GATE = portableGate;
    let f: Followed;
    try {
      f = follow();
    } finally {
      delete process.env.VESSEL_TAR_GATE;
    }
    await grow(f, data, { pauses: true });
    f.g.notify!.end();
    const r = await f.g.report;
    expect(r).toMatchObject({ readAll: true, diffId: `sha256:${sha256(data)}`, unpacker: 'ok' });
    expect(readFileSync(f.sink).equals(data)).toBe(true);
  }, 60_000);

  it('a file complete before the gate starts, the channel closed at once: read whole (a blob kept by an earlier run)', async () => {
    const data = tarOf(1 << 20);
    const file = join(dir, 'whole');
    writeFileSync(file, data);
    const f = follow({ input: file });
    f.g.notify!.end();
    const r = await f.g.report;
    expect(r).toMatchObject({ readAll: true, diffId: `sha256:${sha256(data)}`, unpacker: 'ok' });
    expect(readFileSync(f.sink).equals(data)).toBe(true);
  });

  it('the channel closed early, mid-file: the stream ends where the file ended (short), nothing waits for more', async () => {
    const data = tarOf(2 << 20);
    const f = follow();
    await grow(f, data.subarray(0, 1 << 20));
    f.g.notify!.end();
    const r = await f.g.report;
    expect(r).toMatchObject({ readAll: true, bytes: 1 << 20 });
    expect(r.bad).toMatchObject({ atEnd: true, why: 'Unexpected end of data' });
    // Appended after the end: never read.
    appendFileSync(f.file, data.subarray(1 << 20));
    expect(readFileSync(f.sink).equals(data.subarray(0, readFileSync(f.sink).length))).toBe(true);
  });

  it('a follower that cannot read its file says why on the gate\'s fail line', async () => {
    const f = follow({ input: dir });
    f.g.notify!.end();
    const r = await f.g.report;
    expect(r.fail).toMatch(/^read the blob: Is a directory/);
  });

  it('stop() at any moment while the gate is busy with a burst, then nothing more: the gate always ends (a stop is never lost before its sleep)', async () => {
    // The stalled layer of a pull stopped by its caller: nothing wakes the gate after the stop.
    // This checks that the gate ends whenever the stop comes, before its handler (killed, no
    // report) or in the middle of the burst; the narrow window of a stop landing right before
    // poll() is made to happen by the next test.
    const data = tarOf(4 << 20);
    for (let round = 0; round < 60; round++) {
      const f = follow();
      appendFileSync(f.file, data.subarray(0, (2 << 20) + round * 4096));
      f.g.notify!.write(Buffer.from([1]));
      // From at once (before the gate's handler: killed, no report) to well into the burst.
      await sleep(round % 6);
      f.g.stop();
      const r = await Promise.race([f.g.report.then((x) => `report, read all: ${x.readAll}`, (e: unknown) => String(e)), sleep(10_000).then(() => 'asleep')]);
      if (r === 'asleep') process.kill((await follower(f.file)).gate, 'SIGKILL');
      expect([round, r]).toEqual([round, expect.stringMatching(/^report, read all: false$|stopped without its report \(killed by SIGTERM\)/)]);
    }
  }, 300_000);

  it('a stop landing after the loop looked at its flag, right before poll() sleeps on a stalled stream: the gate still ends (main.c\'s self-pipe)', async () => {
    // A test build whose poll() raises SIGTERM on the gate first, once armed (native/test/
    // gate-late-stop.c): the gate of before the self-pipe slept for good here, and an aborted pull
    // waited for it (seen in registry-abort).
    const late = join(out, 'vessel-tar-gate-late-stop');
    execFileSync('cc', [...cflags, '-Wl,--wrap=poll', '-o', late, ...gateSources, join(repo, 'native', 'test', 'gate-late-stop.c')], { stdio: 'pipe' });
    const arm = join(dir, 'late-stop-armed');
    const data = tarOf(1 << 20);
    const g = startRawGate(late, { env: { ...process.env, VESSEL_TEST_LATE_STOP: arm } });
    // Part of the stream, then a stall (stdin stays open): the gate hands it on and sleeps.
    g.child.stdin!.write(data.subarray(0, 300_000));
    for (let i = 0; i < 500 && readFileSync(g.sink).length < 200_000; i++) await sleep(10);
    expect([readFileSync(g.sink).length >= 200_000, g.stderr(), g.end()]).toEqual([true, '', '']);
    // Armed, then a few bytes more: the gate wakes, reads them, loops, and its next poll() is hit.
    writeFileSync(arm, '');
    g.child.stdin!.write(data.subarray(300_000, 304_096));
    const r = await Promise.race([g.closed, sleep(10_000).then(() => 'asleep' as const)]);
    if (r === 'asleep') g.child.kill('SIGKILL');
    expect(existsSync(arm)).toBe(false);
    expect(r === 'asleep' ? r : [r.status, r.signal, r.stderr, r.end.split(' ').slice(0, 3)]).toEqual([0, null, '', ['end', 'part', '-']]);
    g.child.stdin!.destroy();
  }, 120_000);

  it('stop() while the follower waits, and SIGKILL of the gate: the follower goes with the gate', async () => {
    const data = tarOf(1 << 20);
    const stopped = follow();
    await grow(stopped, data.subarray(0, 100_000));
    const a = await follower(stopped.file);
    await waitingOnChannel(a.follower);
    stopped.g.stop();
    const r = await stopped.g.report;
    expect(r.readAll).toBe(false);
    expect(existsSync(`/proc/${a.follower}`)).toBe(false);

    const killed = follow();
    await grow(killed, data.subarray(0, 100_000));
    const b = await follower(killed.file);
    await waitingOnChannel(b.follower);
    process.kill(b.gate, 'SIGKILL');
    await killed.g.report.catch(() => undefined);
    // Killed by the kernel when its parent died (PR_SET_PDEATHSIG), then reaped by whoever inherits it.
    for (let i = 0; i < 500 && existsSync(`/proc/${b.follower}`) && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${b.follower}/stat`, 'utf8')); i++) await sleep(10);
    const st = existsSync(`/proc/${b.follower}`) ? readFileSync(`/proc/${b.follower}/stat`, 'utf8') : 'gone';
    expect(st === 'gone' || /^\S+ \(.*\) Z/.test(st)).toBe(true);
  });
});
