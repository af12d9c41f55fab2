import { describe, expect, it } from 'vitest';
import { parseImageRef, formatImageRef } from '../../src/image/ref.js';

describe('parseImageRef', () => {
  it.each([
    ['busybox', 'busybox', 'latest'],
    ['busybox:1.36', 'busybox', '1.36'],
    ['library/busybox:musl', 'library/busybox', 'musl'],
    ['localhost:5000/app', 'localhost:5000/app', 'latest'],
    ['registry.example.org:443/team/app:v2_rc-1', 'registry.example.org:443/team/app', 'v2_rc-1'],
  ])('%s', (text, name, tag) => {
    expect(parseImageRef(text)).toEqual({ name, tag });
    expect(formatImageRef(parseImageRef(text))).toBe(`${name}:${tag}`);
  });

  it.each([
    ['', /empty/],
    ['BusyBox', /bad name "BusyBox"/],
    ['busybox:', /bad tag ""/],
    ['busybox:-x', /bad tag "-x"/],
    ['a//b', /bad name/],
    ['../etc', /bad name/],
  ])('rejects %j', (text, msg) => {
    expect(() => parseImageRef(text)).toThrow(msg);
  });
});
