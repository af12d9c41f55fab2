import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeText, formatOutcome, formatOutput, parseCliLine, unescapeText, type CliOutcome } from '../../src/service/cli.js';
import { sameConfig, sameRegistryEnv } from '../../src/cli/serve.js';
import { callerPath } from '../../src/cli/io.js';

/**
 * The native `vessel` front end (native/front/): its escaping against TypeScript's (service/cli.ts,
 * the other side), and its whole flow — fall back to the Node CLI, print and exit, exec what vessel
 * up says — against a scripted service on a real unix socket. Built here with the real build's
 * warnings and AddressSanitizer/UBSan; a missing compiler fails the test.
 */
const repo = join(__dirname, '..', '..');
const out = mkdtempSync(join(tmpdir(), 'vessel-native-front-'));
const wireProbe = join(out, 'wire-probe');
const front = join(out, 'vessel');
const fakeCli = join(out, 'fake-cli.sh');
const FLAGS = ['-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', '-Wno-format-truncation', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'];
const ASAN_ENV = { ASAN_OPTIONS: 'detect_leaks=0', PATH: process.env.PATH ?? '' };

beforeAll(() => {
  execFileSync('cc', [...FLAGS, '-o', wireProbe, join(repo, 'native', 'test', 'wire-probe.c'), join(repo, 'native', 'front', 'wire.c')], { stdio: 'pipe' });
  // The Node CLI it falls back to is a script here: it says it ran, with what, and exits 7.
  writeFileSync(fakeCli, 'printf "NODE-CLI"; for a in "$@"; do printf " [%s]" "$a"; done; echo; exit 7\n');
  chmodSync(fakeCli, 0o755);
  writeFileSync(join(out, 'front-paths.h'), `#define VESSEL_NODE "/bin/sh"\n#define VESSEL_CLI "${fakeCli}"\n`);
  execFileSync('cc', [...FLAGS, `-I${out}`, '-o', front, join(repo, 'native', 'front', 'main.c'), join(repo, 'native', 'front', 'wire.c')], { stdio: 'pipe' });
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

const hex = (b: Buffer) => b.toString('hex');
function probe(args: string[], input?: string): string {
  return execFileSync(wireProbe, args, { env: ASAN_ENV, input: input ?? '', encoding: 'utf8' });
}

describe('escaping: the front end and vessel up read each other', () => {
  const samples: Buffer[] = [
    Buffer.from('plain text'),
    Buffer.from('a b\\c\nd\te'),
    Buffer.from('ünïcödé ☃'),
    Buffer.from([0xff, 0xfe, 0x41, 0x7f, 0x01, 0x80]),
    Buffer.from('\\x41 is not an escape once escaped'),
  ];
  for (let i = 0; i < 20; i++) samples.push(Buffer.from(Array.from({ length: 1 + ((i * 37) % 60) }, (_, k) => 1 + ((i * 131 + k * 17) % 255))));

  it('wire_put writes the line escapeText writes, and unescapeText gets the bytes back', () => {
    for (const b of samples) {
      const line = probe(['put', 'arg', hex(b)]);
      expect(line).toBe(`arg ${escapeText(b)}\n`);
      expect(unescapeText(line.slice(4, -1))?.equals(b)).toBe(true);
    }
  });

  it('wire_unescape reads what formatOutcome escapes, byte for byte', () => {
    for (const b of samples) {
      expect(probe(['unescape', escapeText(b)]).trim()).toBe(hex(b));
    }
  });

  it('both refuse a malformed escape', () => {
    for (const bad of ['a\\', 'a\\q', '\\x4', '\\xzz']) {
      expect(probe(['unescape', bad]).trim()).toBe('malformed');
      expect(unescapeText(bad)).toBeUndefined();
    }
  });

  it('a line longer than the protocol allows is refused (the front end then runs the Node CLI)', () => {
    expect(probe(['put', 'env', hex(Buffer.alloc(4100, 0x61))]).trim()).toBe('refused');
    expect(probe(['put', 'env', hex(Buffer.alloc(2000, 0x01))]).trim()).toBe('refused'); // 4 bytes each once escaped
    expect(probe(['put', 'env', hex(Buffer.alloc(4000, 0x61))]).trim()).not.toBe('refused');
  });

  it('reads lines across reads, and calls a line cut by EOF an error', () => {
    expect(probe(['lines'], 'one\ntwo\n')).toBe('LINE one\nLINE two\neof\n');
    expect(probe(['lines'], 'one\ntw')).toBe('LINE one\nerror\n');
    expect(probe(['lines'], 'x'.repeat(70_000) + '\n')).toBe('error\n');
  });
});

describe('the CLI lines vessel up reads and writes (service/cli.ts)', () => {
  it('parses requests; text that is not UTF-8 goes to the Node CLI', () => {
    expect(parseCliLine('go')).toEqual({ kind: 'go' });
    expect(parseCliLine('arg a\\x0ab')).toEqual({ kind: 'arg', text: 'a\nb' });
    expect(parseCliLine('env K=\\x5c')).toEqual({ kind: 'env', text: 'K=\\' });
    expect(parseCliLine('cwd /x y')).toEqual({ kind: 'cwd', text: '/x y' });
    expect(parseCliLine('arg \\xff')).toEqual({ kind: 'foreign' });
    expect(parseCliLine('arg \\q').kind).toBe('bad');
    expect(parseCliLine('argh').kind).toBe('bad');
    expect(parseCliLine('term 132')).toEqual({ kind: 'term', columns: 132 });
    expect(parseCliLine('term 0')).toEqual({ kind: 'term', columns: 0 });
    expect(parseCliLine('term -1').kind).toBe('bad');
    expect(parseCliLine('term 1234567').kind).toBe('bad');
  });

  it('formats each outcome as the lines the front end reads', () => {
    const done: CliOutcome = { kind: 'done', stdout: 'a\nb\n', stderr: 'vessel: x\\y', code: 3 };
    expect(formatOutcome(done)).toBe('stdout a\\x0a\nstdout b\\x0a\nstderr vessel: x\\\\y\nexit 3\n');
    expect(formatOutcome({ kind: 'node' })).toBe('node\n');
    expect(formatOutcome({ kind: 'exec', stderr: '', argv: ['/bin/x', 'a b'], env: { V: '1' } })).toBe('setenv V=1\nargv /bin/x\nargv a b\nexec\n');
  });

  it('streams output as it is written: a progress bar\'s redraws, blank lines, a line too long for one message', () => {
    expect(formatOutput('stderr', '\r\x1b[Kbar  42%')).toBe('stderr \\x0d\\x1b[Kbar  42%\n');
    expect(formatOutput('stdout', '\n\nx\n')).toBe('stdout \\x0a\nstdout \\x0a\nstdout x\\x0a\n');
    const long = 'y'.repeat(2500) + '\n';
    const lines = formatOutput('stdout', long).split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => unescapeText(l.slice('stdout '.length))!.toString()).join('')).toBe(long);
  });

  it('serves a pull only with this process\'s registry environment (credentials, home, proxies)', () => {
    const ours = { HOME: '/root', AWS_PROFILE: 'p', PATH: '/bin', SSH_AUTH_SOCK: '/s' };
    expect(sameRegistryEnv({ HOME: '/root', AWS_PROFILE: 'p', PATH: '/usr/bin', TERM: 'x' }, ours)).toBe(true);
    expect(sameRegistryEnv({ HOME: '/root', AWS_PROFILE: 'p', AWS_ACCESS_KEY_ID: 'k' }, ours)).toBe(false);
    expect(sameRegistryEnv({ HOME: '/home/u', AWS_PROFILE: 'p' }, ours)).toBe(false);
    expect(sameRegistryEnv({ HOME: '/root' }, ours)).toBe(false);
    expect(sameRegistryEnv({ ...ours, https_proxy: 'http://p:3128' }, ours)).toBe(false);
    // vessel's ssh never asks an agent: the caller's agent socket does not matter
    expect(sameRegistryEnv({ HOME: '/root', AWS_PROFILE: 'p', SSH_AUTH_SOCK: '/other' }, ours)).toBe(true);
  });

  it('what counts is what the registry named on the command line reads', () => {
    const ours = { HOME: '/root', AWS_PROFILE: 'p' };
    const stranger = { HOME: '/home/u', AWS_ACCESS_KEY_ID: 'k', https_proxy: 'http://p:3128' };
    // file:// reads nothing from the environment
    expect(sameRegistryEnv(stranger, ours, ['pull', 'file:///srv/reg/busybox:latest'])).toBe(true);
    // sftp:// reads the home (default key, known_hosts), not S3's credentials or proxies
    expect(sameRegistryEnv({ HOME: '/root', AWS_ACCESS_KEY_ID: 'k' }, ours, ['pull', 'sftp://h/reg/busybox'])).toBe(true);
    expect(sameRegistryEnv({ HOME: '/home/u', AWS_PROFILE: 'p' }, ours, ['pull', 'SFTP://h/reg/busybox'])).toBe(false);
    // any other scheme, none (the configured registry), several, or a URL inside an option: all of it
    expect(sameRegistryEnv({ HOME: '/root' }, ours, ['pull', 's3://b/reg/busybox'])).toBe(false);
    expect(sameRegistryEnv({ HOME: '/root' }, ours, ['pull', 'busybox'])).toBe(false);
    expect(sameRegistryEnv(stranger, ours, ['pull', 'file:///a/x', 'sftp://h/b'])).toBe(false);
    expect(sameRegistryEnv(stranger, ours, ['pull', '--from=file:///a', 'x'])).toBe(false);
    expect(sameRegistryEnv({ ...ours }, ours, ['pull', 's3://b/reg/busybox'])).toBe(true);
  });

  it('a path the caller gave is the caller\'s: relative to its directory, unchanged when that is ours', () => {
    expect(callerPath({ cwd: '/home/u/' }, 'img.tar', '/')).toBe('/home/u/img.tar');
    expect(callerPath({ cwd: '/home/u' }, '/abs/img.tar', '/')).toBe('/abs/img.tar');
    expect(callerPath({ cwd: '/same' }, 'img.tar', '/same')).toBe('img.tar');
  });

  it('serves a caller only with this process\'s configuration', () => {
    const ours = { VESSEL_ROOT: '/r', HOME: '/root', VESSEL_LOG_LEVEL: 'warn' };
    expect(sameConfig({ env: { VESSEL_ROOT: '/r', PATH: '/bin' }, cwd: '/a' }, ours, '/b')).toBe(true);
    expect(sameConfig({ env: { VESSEL_ROOT: '/r', VESSEL_LOG_LEVEL: 'debug' }, cwd: '/a' }, ours, '/b')).toBe(true);
    expect(sameConfig({ env: { VESSEL_ROOT: '/other' }, cwd: '/a' }, ours, '/b')).toBe(false);
    expect(sameConfig({ env: {}, cwd: '/a' }, ours, '/b')).toBe(false);
    expect(sameConfig({ env: { VESSEL_ROOT: '/r', APPC_IMAGE_DIR: '/i' }, cwd: '/a' }, ours, '/b')).toBe(false);
    // a relative setting means the same only from the same directory
    expect(sameConfig({ env: { VESSEL_ROOT: 'r' }, cwd: '/a' }, { VESSEL_ROOT: 'r' }, '/b')).toBe(false);
    expect(sameConfig({ env: { VESSEL_ROOT: 'r' }, cwd: '/b' }, { VESSEL_ROOT: 'r' }, '/b')).toBe(true);
  });
});

/** A scripted vessel up: records each connection's lines and answers `go` with REPLY. */
async function fakeService(dir: string, reply: (lines: string[]) => string | null): Promise<{ server: Server; requests: string[][] }> {
  const requests: string[][] = [];
  const server = createServer((sock: Socket) => {
    const lines: string[] = [];
    requests.push(lines);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line === 'go') {
          const r = reply(lines);
          if (r === null) sock.destroy();
          else sock.end(r);
        }
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((res) => server.listen(join(dir, 'vessel.sock'), res));
  return { server, requests };
}

function runFront(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(front, args, { env: { ...ASAN_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => res({ code, stdout, stderr }));
  });
}

describe('the front end against a scripted vessel up (ASan/UBSan)', () => {
  let n = 0;
  const runDir = () => {
    const d = join(out, `run${n++}`);
    mkdirSync(d);
    return d;
  };

  it('without vessel up, or when told so, runs the Node CLI with the same arguments', async () => {
    const d = runDir();
    const r = await runFront(['run', 'a b', '-x'], { VESSEL_RUN_DIR: d });
    expect(r).toMatchObject({ code: 7, stdout: 'NODE-CLI [run] [a b] [-x]\n' });
    const { server, requests } = await fakeService(d, () => 'exit 0\n');
    try {
      expect((await runFront(['ps'], { VESSEL_RUN_DIR: d, VESSEL_FRONT: 'node' })).stdout).toBe('NODE-CLI [ps]\n');
      expect((await runFront(['ps'], { VESSEL_ROOT: 'relative/root' })).stdout).toBe('NODE-CLI [ps]\n');
      expect(requests).toHaveLength(0);
    } finally {
      server.close();
    }
  });

  it('sends its pid, cwd, environment and arguments, escaped, then prints and exits as told', async () => {
    const d = runDir();
    const { server, requests } = await fakeService(d, () => 'stdout hi\\x0a\nstderr vessel: \\xe2\\x98\\x83\\x0a\nexit 3\n');
    try {
      const r = await runFront(['run', 'x\ny', 'ünï'], { VESSEL_RUN_DIR: d, MARK: 'm=1' });
      expect(r).toMatchObject({ code: 3, stdout: 'hi\n', stderr: 'vessel: ☃\n' });
      const lines = requests[0]!;
      expect(lines[0]).toMatch(/^hello 1 cli \d+$/);
      expect(lines[1]).toBe(`cwd ${escapeText(process.cwd())}`);
      expect(lines).toContain('env MARK=m=1');
      expect(lines.slice(-4)).toEqual(['arg run', 'arg x\\x0ay', `arg ${escapeText('ünï')}`, 'go']);
    } finally {
      server.close();
    }
  });

  it('says its stderr is a terminal, and how wide, only when it is one', async () => {
    const d = runDir();
    const { server, requests } = await fakeService(d, () => 'exit 0\n');
    try {
      await runFront(['pull', 'x'], { VESSEL_RUN_DIR: d });
      expect(requests[0]!.some((l) => l.startsWith('term'))).toBe(false);
      // script(1): a terminal for the front end (its columns as stty sets them)
      const code = await new Promise((res) => spawn('script', ['-qec', `stty cols 77; ${front} pull x`, '/dev/null'], { env: { ...process.env, ...ASAN_ENV, VESSEL_RUN_DIR: d }, stdio: 'ignore' }).on('close', res));
      expect(code).toBe(0);
      expect(requests[1]).toContain('term 77');
      expect(requests[1]!.indexOf('term 77')).toBe(requests[1]!.length - 2);
    } finally {
      server.close();
    }
  });

  it('execs what vessel up hands over, with the variables it sets (a foreground run\'s monitor)', async () => {
    const d = runDir();
    const { server } = await fakeService(d, () => `stderr note\\x0a\nsetenv FOO=b a r\nargv /bin/sh\nargv -c\nargv ${escapeText('echo "$FOO"; exit 4')}\nexec\n`);
    try {
      expect(await runFront(['run', 'img'], { VESSEL_RUN_DIR: d })).toMatchObject({ code: 4, stdout: 'b a r\n', stderr: 'note\n' });
    } finally {
      server.close();
    }
  });

  it('"node", a refusal or a close before any answer: the Node CLI does it (nothing was done)', async () => {
    for (const answer of ['node\n', 'error this vessel up does not serve the CLI\n', null]) {
      const d = runDir();
      const { server } = await fakeService(d, () => answer);
      try {
        expect(await runFront(['stop', 'web'], { VESSEL_RUN_DIR: d })).toMatchObject({ code: 7, stdout: 'NODE-CLI [stop] [web]\n' });
      } finally {
        server.close();
      }
    }
  });

  it('an answer cut short or not understood: one line and 125, never the Node CLI (it may have acted)', async () => {
    for (const answer of ['stdout web\\x0a\n', 'stdout ok\\x0a\nsurprise 1\n', 'exec\n', 'stdout bad\\q\n']) {
      const d = runDir();
      const { server } = await fakeService(d, () => answer);
      try {
        const r = await runFront(['rm', 'web'], { VESSEL_RUN_DIR: d });
        expect(r.code).toBe(125);
        expect(r.stdout).not.toContain('NODE-CLI');
        expect(r.stderr).toMatch(/^vessel: vessel up (stopped answering|answered something)/m);
      } finally {
        server.close();
      }
    }
  });
});
