import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseSpecText, type ContainerSpec } from '../../src/spec/index.js';
import { VesselError } from '../../src/util/errors.js';

const fixture = (f: string) => fileURLToPath(new URL(`../fixtures/spec/${f}`, import.meta.url));

/** The error a parse throws: a VesselError E_SPEC with one line of message. */
function errorOf(text: string, file = 'web.ini'): VesselError {
  try {
    parseSpecText(text, { file });
  } catch (e) {
    expect(e).toBeInstanceOf(VesselError);
    const ve = e as VesselError;
    expect(ve.code).toBe('E_SPEC');
    expect(ve.message).not.toContain('\n');
    return ve;
  }
  throw new Error('expected the spec to be rejected');
}

const img = '[container]\nimage = busybox\n';

describe('the DESIGN.md §4 example', () => {
  it('parses verbatim into the expected spec', () => {
    const path = fixture('design-example.ini');
    const spec = parseSpecText(readFileSync(path, 'utf8'), { file: path });
    const expected: ContainerSpec = {
      name: 'design-example',
      image: 'busybox:latest',
      command: ['httpd', '-f', '-p', '80', '-h', '/www'],
      hostname: 'web',
      env: [['GREETING', 'hello']],
      volumes: [
        { kind: 'bind', source: '/srv/www', target: '/www', readonly: true },
        { kind: 'tmpfs', target: '/tmp', sizeBytes: 16 * 1024 * 1024, mode: 0o1777 },
      ],
      restart: { mode: 'always' },
      stopTimeout: 10,
      stopSignal: 'SIGTERM',
      wait: 'all',
      minUptime: 10,
      tty: false,
      interactive: false,
      network: { mode: 'bridge', name: 'front', publish: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], aliases: [] },
      limits: { memoryBytes: 64 * 1024 * 1024, maxproc: 50, cpuPercent: 50 },
      jail: { securelevel: '3', 'children.max': '0' },
      security: { portacl: [], capAdd: [], capDrop: [], noNewPrivileges: true },
      source: path,
    };
    expect(spec).toEqual(expected);
  });
});

describe('names', () => {
  it('comes from the file name without .ini / .vessel', () => {
    expect(parseSpecText(img, { file: '/x/web.ini' }).name).toBe('web');
    expect(parseSpecText(img, { file: '/x/api.v2.vessel' }).name).toBe('api.v2');
    expect(parseSpecText(img, { file: '/x/db' }).name).toBe('db');
    expect(parseSpecText(img, { file: '/x/web.ini', name: 'other' }).name).toBe('other');
  });
  it('accepts NAME.ini.off only when asked', () => {
    expect(errorOf(img, '/x/web.ini.off').message).toMatch(/disabled spec/);
    expect(parseSpecText(img, { file: '/x/web.ini.off', allowOff: true }).name).toBe('web');
  });
  it('rejects bad names, including a uWSGI zerg ":"', () => {
    expect(errorOf(img, '/x/-web.ini').message).toMatch(/not a valid name/);
    expect(() => parseSpecText(img, { file: 'a.ini', name: 'a:b' })).toThrow(/not a valid name/);
    expect(() => parseSpecText(img, { file: 'a.ini', name: 'x'.repeat(64) })).toThrow(/not a valid name/);
    expect(parseSpecText(img, { file: 'a.ini', name: 'x'.repeat(63) }).name).toHaveLength(63);
  });
});

describe('errors', () => {
  it('name file, line, section, key and reason', () => {
    const e = errorOf('[container]\nimage = busybox\n\n[limits]\n\n\nmemory = 64X\n');
    expect(e.message).toBe('web.ini:7: [limits] memory: "64X" is not a size (use 64M, 1G, or bytes)');
  });
  it('suggest the key meant', () => {
    const e = errorOf(`${img}[limits]\nmemroy = 64M\n`);
    expect(e.message).toBe('web.ini:4: [limits] memroy: unknown key, did you mean memory?');
    expect(e.hint).toContain('memory, vmemory, maxproc, cpu, openfiles');
  });
  it('suggest the section meant', () => {
    expect(errorOf(`${img}[limts]\nmemory = 64M\n`).message).toBe('web.ini:3: [limts]: unknown section, did you mean [limits]?');
    expect(errorOf(`${img}[frobnicate]\n`).message).toBe('web.ini:3: [frobnicate]: unknown section');
  });
  it('missing image', () => {
    expect(errorOf('[container]\ncommand = true\n').message).toBe('web.ini: [container] image: missing');
    expect(errorOf('').message).toBe('web.ini: [container] image: missing');
  });
  it('repeated scalar, [] on a scalar', () => {
    expect(errorOf(`${img}image = alpine\n`).message).toBe('web.ini:3: [container] image: is already set on line 2');
    expect(errorOf(`${img}hostname[] = a\n`).message).toMatch(/web.ini:3: \[container\] hostname: takes one value/);
  });
});

describe('parseSpecFile', () => {
  it('reads a file and names the container after it', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { parseSpecFile } = await import('../../src/spec/index.js');
    const dir = await mkdtemp(join(tmpdir(), 'vessel-spec-'));
    try {
      await writeFile(join(dir, 'api.ini'), '[container]\nimage = busybox\n');
      const s = await parseSpecFile(join(dir, 'api.ini'));
      expect([s.name, s.source, s.restart.mode]).toEqual(['api', join(dir, 'api.ini'), 'always']);
      await expect(parseSpecFile(join(dir, 'none.ini'))).rejects.toThrow(`${join(dir, 'none.ini')}: no such spec file`);
      await expect(parseSpecFile(dir)).rejects.toThrow(/is a directory/);
      await writeFile(join(dir, 'bad.ini'), '[container]\nimage = busybox\nmemory = 1G\n');
      await expect(parseSpecFile(join(dir, 'bad.ini'))).rejects.toThrow(`${join(dir, 'bad.ini')}:3: [container] memory: unknown key`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('INI syntax', () => {
  it('reads comments, quotes, CRLF and a BOM', () => {
    const s = parseSpecText('\uFEFF; comment\r\n# comment\r\n[container]  ; why\r\nimage = \'busybox\'   # c\r\nhostname = "web"\r\nenv[] = "A=x \\"y\\" ; z"\r\n', { file: 'w.ini' });
    expect([s.image, s.hostname, s.env]).toEqual(['busybox:latest', 'web', [['A', 'x "y" ; z']]]);
  });
  it.each([
    ['image = busybox\n', 'w.ini:1: image: key outside a section (start with [container])'],
    ['[container\n', 'w.ini:1: "[container" is not a [section] line'],
    ['[]\n', 'w.ini:1: empty section name []'],
    ['[container]\njust words\n', 'w.ini:2: "just words" is not a key = value line'],
    ['[container]\nbad key = 1\n', 'w.ini:2: "bad key" is not a key name'],
    ['[container]\nimage = "busybox\n', 'w.ini:2: [container] image: unterminated " quote'],
    ['[container]\nimage = "busybox" x\n', 'w.ini:2: [container] image: text after the closing " quote (quote the whole value)'],
  ])('%j → %s', (text, message) => {
    expect(() => parseSpecText(text, { file: 'w.ini' })).toThrow(message);
  });
});
