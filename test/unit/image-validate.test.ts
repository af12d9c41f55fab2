import { describe, expect, it } from 'vitest';
import { EntryChecker, splitMemberPath } from '../../src/image/validate.js';

const checker = (allowDevices = true, externalLinks = false) => new EntryChecker({ maxEntries: 100, maxBytes: 1000 }, { allowDevices, externalLinks });
/** The reason of a refusal (undefined: accepted). */
const why = (v: ReturnType<EntryChecker['check']>) => (v !== undefined && typeof v === 'object' ? v.refuse : v);

describe('splitMemberPath', () => {
  it('cleans harmless forms', () => {
    expect(splitMemberPath('./a//b/./c/')).toEqual(['a', 'b', 'c']);
    expect(splitMemberPath('./')).toEqual([]);
  });
  it('refuses absolute and ".." paths', () => {
    expect(splitMemberPath('/etc/passwd')).toBe('absolute path');
    expect(splitMemberPath('a/../../b')).toMatch(/outside/);
  });
});

describe('EntryChecker', () => {
  it('accepts a normal root filesystem', () => {
    const c = checker();
    expect(c.check({ name: './', type: 'directory' })).toBeUndefined();
    expect(c.check({ name: './bin/', type: 'directory' })).toBeUndefined();
    expect(c.check({ name: './bin/busybox', type: 'file', size: 500 })).toBeUndefined();
    expect(c.check({ name: './bin/sh', type: 'symlink', linkname: '/bin/busybox' })).toBeUndefined();
    expect(c.check({ name: './bin/ash', type: 'link', linkname: './bin/busybox' })).toBeUndefined();
    expect(c.check({ name: './dev/null', type: 'character-device' })).toBeUndefined();
    expect(c.bytes).toBe(500);
  });
  it('refuses writes through a symlink seen earlier, and hardlinks through one', () => {
    const c = checker();
    c.check({ name: 'lib', type: 'symlink', linkname: 'usr/lib' });
    expect(why(c.check({ name: 'lib/x.so', type: 'file', size: 1 }))).toMatch(/parent "lib" is a symlink/);
    expect(why(c.check({ name: 'y', type: 'link', linkname: 'lib/x.so' }))).toMatch(/goes through symlink "lib"/);
  });
  it('refuses device nodes when not root, unknown types, and too much', () => {
    expect(why(checker(false).check({ name: 'dev/sda', type: 'block-device' }))).toMatch(/only be unpacked as root/);
    expect(why(checker().check({ name: 'x', type: null }))).toMatch(/unsupported entry type unknown/);
    const c = checker();
    expect(why(c.check({ name: 'big', type: 'file', size: 1001 }))).toMatch(/more than 1000 bytes/);
    // A sparse file counts what it unpacks to, not the bytes it stores.
    expect(why(checker().check({ name: 'sparse', type: 'file', size: 10, realSize: 5000 }))).toMatch(/more than 1000 bytes/);
  });
  it('collects whiteouts and opaque markers', () => {
    const c = checker();
    c.check({ name: 'etc/.wh.motd', type: 'file', size: 0 });
    c.check({ name: 'var/cache/.wh..wh..opq', type: 'file', size: 0 });
    expect(c.whiteouts).toEqual(['etc/.wh.motd']);
    expect(c.opaqueDirs).toEqual(['var/cache']);
  });
  it('names escaped in reasons: control characters and bytes that are not UTF-8', () => {
    const c = checker();
    c.check({ name: 'a\x1b[2J', type: 'symlink', linkname: '/' });
    expect(why(c.check({ name: 'a\x1b[2J/x', type: 'file', size: 1 }))).toBe('parent "a\\x1b[2J" is a symlink (writing through it could leave the image)');
    c.check({ name: '\xff\xfe', type: 'symlink', linkname: '/' });
    expect(why(c.check({ name: 'y', type: 'link', linkname: '\xff\xfe/z' }))).toBe('hardlink target "\\xff\\xfe/z" goes through symlink "\\xff\\xfe"');
  });
  it('a hard link to a file the layer does not hold: refused alone, a placeholder above lower layers', () => {
    expect(why(checker().check({ name: 'b', type: 'link', linkname: 'a' }))).toBe('hardlink target "a" is not in the archive');
    const c = checker(true, true);
    expect(c.check({ name: 'in', type: 'file', size: 1 })).toBeUndefined();
    expect(c.check({ name: 'here', type: 'link', linkname: 'in' })).toBeUndefined();
    expect(c.check({ name: 'b', type: 'link', linkname: './usr/a' })).toBe('placeholder');
    // A link to that placeholder names the lower file too; a later entry at a placeholder's path replaces it.
    expect(c.check({ name: 'c', type: 'link', linkname: 'b' })).toBe('placeholder');
    expect(c.check({ name: 'd', type: 'link', linkname: 'usr/a' })).toBe('placeholder');
    expect(c.check({ name: 'd', type: 'file', size: 1 })).toBeUndefined();
    expect(c.externalLinks).toEqual([{ name: 'b', target: 'usr/a' }, { name: 'c', target: 'usr/a' }]);
  });
});
