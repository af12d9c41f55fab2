import { describe, expect, it } from 'vitest';
import { EntryChecker, splitMemberPath } from '../../src/image/validate.js';

const checker = (allowDevices = true) => new EntryChecker({ maxEntries: 100, maxBytes: 1000 }, { allowDevices });

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
    expect(c.check({ name: 'lib/x.so', type: 'file', size: 1 })).toMatch(/parent "lib" is a symlink/);
    expect(c.check({ name: 'y', type: 'link', linkname: 'lib/x.so' })).toMatch(/goes through symlink "lib"/);
  });
  it('refuses device nodes when not root, unknown types, and too much', () => {
    expect(checker(false).check({ name: 'dev/sda', type: 'block-device' })).toMatch(/only be unpacked as root/);
    expect(checker().check({ name: 'x', type: null })).toMatch(/unsupported entry type unknown/);
    const c = checker();
    expect(c.check({ name: 'big', type: 'file', size: 1001 })).toMatch(/more than 1000 bytes/);
  });
  it('collects whiteouts and opaque markers', () => {
    const c = checker();
    c.check({ name: 'etc/.wh.motd', type: 'file', size: 0 });
    c.check({ name: 'var/cache/.wh..wh..opq', type: 'file', size: 0 });
    expect(c.whiteouts).toEqual(['etc/.wh.motd']);
    expect(c.opaqueDirs).toEqual(['var/cache']);
  });
});
