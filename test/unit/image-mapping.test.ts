import { describe, expect, it } from 'vitest';
import { configFromAci, renderAciManifest, type AciManifest } from '../../src/image/aci.js';
import { detectCompression } from '../../src/image/compression.js';
import { fromOciConfig, toOciConfig } from '../../src/image/oci-config.js';
import { upperEntryToOci } from '../../src/build/layers.js';
import type { StoredImage } from '../../src/image/store.js';

describe('appc manifest ↔ image config', () => {
  const manifest: AciManifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/web',
    labels: [{ name: 'version', value: '1.2' }, { name: 'os', value: 'freebsd' }, { name: 'arch', value: 'amd64' }, { name: 'team', value: 'ops' }],
    annotations: [{ name: 'authors', value: 'vessel' }],
    app: {
      exec: ['/usr/sbin/httpd', '-f'],
      user: 'www',
      group: 'www',
      workingDirectory: '/srv',
      environment: [{ name: 'A', value: 'b=c' }],
      ports: [{ name: 'http', protocol: 'tcp', port: 80 }],
      mountPoints: [{ name: 'data', path: '/data' }],
    },
  };

  it('maps an appc manifest onto ImageConfig', () => {
    expect(configFromAci(manifest)).toEqual({
      version: '1.2', os: 'freebsd', arch: 'amd64',
      config: { cmd: ['/usr/sbin/httpd', '-f'], user: 'www:www', workdir: '/srv', env: ['A=b=c'], exposedPorts: ['80/tcp'], volumes: ['/data'], labels: { team: 'ops', authors: 'vessel' } },
    });
  });

  it('renders an appc manifest from an image, entrypoint and cmd joined in exec', () => {
    const img = { id: 'sha256:' + 'a'.repeat(64), os: 'linux', architecture: 'arm64', config: { entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi'], env: ['X=1'], user: '1000', exposedPorts: ['53/udp'] } } as unknown as StoredImage;
    const m = JSON.parse(renderAciManifest(img, { name: 'dns', tag: '2' })) as AciManifest;
    expect(m).toMatchObject({
      acKind: 'ImageManifest', name: 'dns',
      labels: [{ name: 'version', value: '2' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'arm64' }],
      app: { exec: ['/bin/sh', '-c', 'echo hi'], user: '1000', group: '0', environment: [{ name: 'X', value: '1' }], ports: [{ name: 'udp-53', protocol: 'udp', port: 53 }] },
    });
  });
});

describe('OCI config mapping', () => {
  it('round-trips every field', () => {
    const c = { cmd: ['a'], entrypoint: ['b'], env: ['K=V'], workdir: '/w', user: 'u', exposedPorts: ['80/tcp'], volumes: ['/v'], labels: { l: 'x' }, stopSignal: 'SIGINT' };
    expect(fromOciConfig(toOciConfig(c))).toEqual(c);
  });
});

describe('compression by magic bytes', () => {
  it.each([
    [[0x1f, 0x8b, 8], 'gzip'],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
    [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
    [[0x42, 0x5a, 0x68, 0x39], 'bzip2'],
    [[0x2e, 0x2f, 0, 0], 'none'],
  ] as const)('%j → %s', (bytes, kind) => {
    expect(detectCompression(Uint8Array.from(bytes))).toBe(kind);
  });
});

describe('overlay upper → OCI layer entries', () => {
  const h = (x: object) => ({ name: 'x', size: 0, mode: 0o644, mtime: new Date(0), type: 'file', linkname: '', uid: 0, gid: 0, uname: '', gname: '', devmajor: 0, devminor: 0, ...x }) as Parameters<typeof upperEntryToOci>[0];
  it('turns a 0/0 character device into a whiteout file', () => {
    expect(upperEntryToOci(h({ name: './etc/hostname', type: 'character-device' }))).toMatchObject({ name: './etc/.wh.hostname', type: 'file', size: 0 });
  });
  it('keeps real device nodes', () => {
    expect(upperEntryToOci(h({ name: './dev/null', type: 'character-device', devmajor: 1, devminor: 3 }))).toMatchObject({ name: './dev/null', type: 'character-device' });
  });
  it('adds an opaque marker after an opaque directory and drops overlay xattrs', () => {
    const out = upperEntryToOci(h({ name: './var/cache/', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.trusted.overlay.origin': 'x', 'SCHILY.xattr.user.keep': '1' } }));
    expect(out).toMatchObject([{ name: './var/cache/', type: 'directory', pax: { 'SCHILY.xattr.user.keep': '1' } }, { name: './var/cache/.wh..wh..opq', type: 'file' }]);
    expect((out as Array<{ pax?: object }>)[0]!.pax).toEqual({ 'SCHILY.xattr.user.keep': '1' });
  });
});
