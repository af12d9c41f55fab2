import { describe, expect, it } from 'vitest';
import {
  formatCommand, formatSize, normalizeSignal, parseCpus, parsePercent, parsePublish, parseSize, parseTmpfs,
  parseVolume, splitCommand, suggest, validateName, normalizeImage, parseCommand, envPairs, mergeEnv,
} from '../../src/spec/index.js';
import { mergeEnv as superviseMergeEnv } from '../../src/supervise/index.js';

describe('sizes', () => {
  it.each([
    ['64M', 64 * 2 ** 20], ['1G', 2 ** 30], ['512k', 512 * 1024], ['4096', 4096], ['16MiB', 16 * 2 ** 20],
    ['2gb', 2 * 2 ** 30], ['1.5K', 1536], ['1T', 2 ** 40], ['100b', 100],
  ])('%s → %i bytes', (t, n) => expect(parseSize(t)).toBe(n));
  it.each(['64X', '', 'M', '-1M', '1e3', '12Q', '64 M', '5ib'])('%j is refused', (t) => expect(() => parseSize(t)).toThrow(/is not a size/));
  it.each([[64 * 2 ** 20, '64M'], [2 ** 30, '1G'], [1536, '1536'], [1000, '1000'], [3 * 2 ** 40, '3T'], [0, '0']])('%i → %s', (n, t) =>
    expect(formatSize(n)).toBe(t));
});

describe('cpu', () => {
  it.each([['50%', 50], ['0.5', 50], ['2', 200], ['.25', 25], ['0.3', 30], ['150%', 150]])('%s → %d', (t, n) => expect(parseCpus(t)).toBe(n));
  it('takes numbers', () => expect(parseCpus(1.5)).toBe(150));
  it('percent only with %', () => {
    expect(parsePercent('20%')).toBe(20);
    expect(() => parsePercent('20')).toThrow(/not a percentage/);
  });
  it.each(['0', '0%', '-1', 'x', '50 %%', '100000'])('%j is refused', (t) => expect(() => parseCpus(t)).toThrow());
});

describe('splitCommand (shell words, no expansion)', () => {
  it.each([
    ['httpd -f -p 80', ['httpd', '-f', '-p', '80']],
    [`sh -c 'echo "a" $X'`, ['sh', '-c', 'echo "a" $X']],
    ['echo "a \\"b\\" \\\\ \\$c \\n"', ['echo', 'a "b" \\ $c \\n']],
    ['a\\ b c\\\\d', ['a b', 'c\\d']],
    [`''  ""`, ['', '']],
    [`x'y'"z"`, ['xyz']],
    ['  spaced\tout  ', ['spaced', 'out']],
  ])('%s', (t, argv) => expect(splitCommand(t)).toEqual(argv));
  it.each([`'a`, `"a`, 'a\\'])('%j is refused', (t) => expect(() => splitCommand(t)).toThrow());
  it('accepts the JSON exec form and shell tests starting with [', () => {
    expect(parseCommand('["a", "b c"]')).toEqual(['a', 'b c']);
    expect(parseCommand('[ -f /x ]')).toEqual(['[', '-f', '/x', ']']);
  });
  it.each([
    [['a', 'b c', "it's", '', '$HOME', 'x;y', '#', '[']],
    [['line\nbreak', 'tab\t']],
    [[]],
    [['\\', '"', "'"]],
  ])('formatCommand(%j) reads back the same argv', (argv) => {
    expect(parseCommand(formatCommand(argv))).toEqual(argv);
  });
});

describe('volumes and ports', () => {
  it('parses bind and tmpfs volumes', () => {
    expect(parseVolume('/a/../b:/c//d:ro')).toEqual({ kind: 'bind', source: '/b', target: '/c/d', readonly: true });
    expect(parseVolume('./rel:/x', { cwd: '/home/u' })).toEqual({ kind: 'bind', source: '/home/u/rel', target: '/x', readonly: false });
    expect(parseVolume('a/rel:/x', { cwd: '/home/u' })).toEqual({ kind: 'bind', source: '/home/u/a/rel', target: '/x', readonly: false });
    // docker's rule: no '/' and not starting with '.' or '~' → a named volume, even with a cwd
    expect(parseVolume('rel:/x', { cwd: '/home/u' })).toEqual({ kind: 'named', name: 'rel', target: '/x', readonly: false });
    expect(parseVolume('data:/x:ro')).toEqual({ kind: 'named', name: 'data', target: '/x', readonly: true });
    expect(parseTmpfs('/tmp:size=16m')).toEqual({ kind: 'tmpfs', target: '/tmp', sizeBytes: 16 * 2 ** 20, mode: 0o1777 });
    expect(parseTmpfs('/tmp')).toEqual({ kind: 'tmpfs', target: '/tmp', mode: 0o1777 });
    expect(() => parseVolume('/a:/b:ro:x')).toThrow(/is not a volume/);
    expect(() => parseVolume('/a')).toThrow(/is not a volume/);
    expect(() => parseVolume('./rel:/x')).toThrow(/is not an absolute path/);
    expect(() => parseVolume('~/rel:/x')).toThrow(/is not an absolute path/);
    for (const hostile of ['da ta:/x', 'a\u0000b:/x', 'é:/x', `${'v'.repeat(64)}:/x`, '_v:/x', '-v:/x']) {
      expect(() => parseVolume(hostile)).toThrow(/is not a volume name/);
    }
  });
  it('parses published ports', () => {
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('10.0.0.1:53:5353/udp')).toEqual({ hostIp: '10.0.0.1', hostPort: 53, containerPort: 5353, protocol: 'udp' });
    expect(parsePublish('80')).toEqual({ hostPort: 0, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('[::1]:8000-8001:9000-9001/udp')).toEqual({ hostIp: '::1', hostPort: 8000, hostPortEnd: 8001, containerPort: 9000, containerPortEnd: 9001, protocol: 'udp' });
    for (const bad of ['80:80:80:80', 'a:80', '1.2.3:80:80', '80:80/', '65536:1', '01.2.3.4:1:1', '[::1:80:80', '[::1]80:80', '80-:80', '-80:80', '::1:80:80']) expect(() => parsePublish(bad)).toThrow();
  });
});

describe('names, signals, images, suggestions', () => {
  it.each(['web', 'a', 'A9', 'web-1.prod_x', 'x'.repeat(63)])('%s is a name', (n) => expect(validateName(n)).toBe(n));
  it.each(['', '-a', '.a', '_a', 'a:b', 'a b', 'a/b', 'x'.repeat(64), 'é'])('%j is not', (n) => expect(() => validateName(n)).toThrow(/is not a valid name/));
  it.each([['TERM', 'SIGTERM'], ['SIGTERM', 'SIGTERM'], ['15', 'SIGTERM'], ['hup', 'SIGHUP'], [9, 'SIGKILL'], ['SIGUSR1', 'SIGUSR1']])('%s → %s', (t, s) =>
    expect(normalizeSignal(t)).toBe(s));
  it.each(['SIGFOO', '30', '0', ''])('%j is not a portable signal', (t) => expect(() => normalizeSignal(t)).toThrow());
  it.each([
    ['busybox', 'busybox:latest'], ['busybox:1.36', 'busybox:1.36'], ['localhost:5000/a/b', 'localhost:5000/a/b:latest'],
    ['reg.io:443/x:1', 'reg.io:443/x:1'], [`a@sha256:${'0'.repeat(64)}`, `a@sha256:${'0'.repeat(64)}`],
  ])('image %s → %s', (t, n) => expect(normalizeImage(t)).toBe(n));
  it.each(['', 'a b', 'a:', 'a//b', ':x', 'a/', 'a:b:c'])('image %j is refused', (t) => expect(() => normalizeImage(t)).toThrow());
  it('suggests close words only', () => {
    expect(suggest('memroy', ['memory', 'vmemory', 'maxproc'])).toBe('memory');
    expect(suggest('maxprocs', ['memory', 'maxproc'])).toBe('maxproc');
    expect(suggest('limts', ['container', 'limits'])).toBe('limits');
    expect(suggest('zzz', ['memory', 'cpu'])).toBeUndefined();
    expect(suggest('CPU', ['cpu'])).toBe('cpu');
  });
});

describe('env (one merge for start, plan, exec and a build\'s ENV)', () => {
  it('merges by key: the later value wins, a key keeps its first place, nameless entries are dropped', () => {
    expect(mergeEnv(['PATH=/bin', 'A=1', '=x', 'NOVALUE'], [['A', '2'], ['B', 'c=d']])).toEqual(['PATH=/bin', 'A=2', 'B=c=d']);
    expect(envPairs(['K=V=W', 'E='])).toEqual([['K', 'V=W'], ['E', '']]);
  });
  it('supervise uses the same function, not a copy', () => {
    expect(superviseMergeEnv).toBe(mergeEnv);
  });
});
