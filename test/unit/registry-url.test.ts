import { describe, expect, it } from 'vitest';
import { parseImageLocation, parseRegistryUrl, redact } from '../../src/registry/url.js';
import { knownHostKeys, fingerprint } from '../../src/registry/ssh.js';
import { chainIds } from '../../src/registry/zfs.js';
import { renderBar } from '../../src/registry/progress.js';
import { generateKeyPairSync } from 'node:crypto';
import { signDigest, verifyDigest } from '../../src/registry/sign.js';

describe('registry URLs', () => {
  it.each([
    ['file:///srv/reg', { scheme: 'file', path: '/srv/reg' }],
    ['https://example.org/images/', { scheme: 'https', base: 'https://example.org/images' }],
    ['s3://bucket/pre/fix?region=eu-west-1', { scheme: 's3', bucket: 'bucket', prefix: 'pre/fix', params: { region: 'eu-west-1' } }],
    ['sftp://me@host:2222/srv/reg', { scheme: 'sftp', host: 'host', port: 2222, path: '/srv/reg', auth: { user: 'me' } }],
    ['ftps://u:p@host/reg', { scheme: 'ftps', port: 21, tls: 'explicit', auth: { user: 'u', password: 'p' } }],
    ['ftps://host/reg?tls=implicit', { scheme: 'ftps', port: 990, tls: 'implicit' }],
    ['zfs://tank/vessel/images', { scheme: 'zfs', dataset: 'tank/vessel/images' }],
    ['zfs+ssh://root@build:22/tank/images', { scheme: 'zfs+ssh', host: 'build', dataset: 'tank/images' }],
    ['oci://127.0.0.1:5000/library', { scheme: 'oci', port: 5000, repository: 'library', insecure: true }],
    ['oci://registry.example.org/team', { scheme: 'oci', port: 443, insecure: false }],
  ])('%s', (text, want) => {
    expect(parseRegistryUrl(text)).toMatchObject(want);
  });

  it.each([
    ['gopher://host/x', /unknown scheme "gopher"/],
    ['s3//bucket', /not a URL/],
    ['file://otherhost/x', /not host "otherhost"/],
    ['sftp://host', /no path/],
    ['s3://', /malformed URL/],
    ['s3://b', /bad bucket name/],
    ['sftp://h:99999/x', /bad port|malformed/],
    ['oci://host/UPPER', /bad repository/],
    ['ftp://host/x?tls=implicit', /TLS needs ftps/],
    ['zfs://tank/bad name', /bad dataset|white space|malformed/],
  ])('%s is refused', (text, msg) => {
    expect(() => parseRegistryUrl(text)).toThrow(msg);
    try { parseRegistryUrl(text); } catch (e) { expect((e as { code: string }).code).toBe('E_USAGE'); }
  });

  it('never shows passwords', () => {
    expect(redact('ftps://user:secret@host/x')).toBe('ftps://user:***@host/x');
    expect(parseRegistryUrl('oci://u:secret@h/r').display).not.toContain('secret');
  });

  it('splits URL/NAME:TAG and uses the default registry without a URL', () => {
    const l = parseImageLocation('s3://bkt/images/busybox:1.36', undefined);
    expect(l.registry).toMatchObject({ bucket: 'bkt', prefix: 'images' });
    expect(l.ref).toEqual({ name: 'busybox', tag: '1.36' });
    expect(parseImageLocation('busybox', 'file:///r').ref).toEqual({ name: 'busybox', tag: 'latest' });
    expect(() => parseImageLocation('busybox', undefined)).toThrow(/none configured/);
    expect(() => parseImageLocation('s3://bucket', undefined)).toThrow(/no image name/);
  });
});

describe('pieces', () => {
  it('matches known_hosts entries, plain and hashed', () => {
    const key = Buffer.from('ssh-ed25519-key-bytes');
    const b64 = key.toString('base64');
    expect(knownHostKeys(`[127.0.0.1]:2222 ssh-ed25519 ${b64}\n`, '127.0.0.1', 2222)).toEqual([key]);
    expect(knownHostKeys(`127.0.0.1 ssh-ed25519 ${b64}\n`, '127.0.0.1', 2222)).toEqual([]);
    expect(fingerprint(key)).toMatch(/^SHA256:[A-Za-z0-9+/]+$/);
  });

  it('chain ids as OCI defines them', () => {
    const a = `sha256:${'a'.repeat(64)}` as const;
    const b = `sha256:${'b'.repeat(64)}` as const;
    const c = chainIds([a, b]);
    expect(c[0]).toBe('a'.repeat(64));
    expect(c[1]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('renders the progress bar with rate and ETA', () => {
    expect(renderBar('pull', 50_000_000, 100_000_000, 10_000_000, 10)).toBe('pull [#####     ]  50%  50.0 MB / 100 MB  10.0 MB/s  ETA 00:05');
  });

  it('Ed25519 signatures verify, and refuse another key or no signature', () => {
    const k1 = generateKeyPairSync('ed25519');
    const k2 = generateKeyPairSync('ed25519');
    const d = `sha256:${'c'.repeat(64)}` as const;
    const doc = signDigest(d, k1.privateKey);
    expect(() => verifyDigest('x', d, doc, k1.publicKey)).not.toThrow();
    expect(() => verifyDigest('x', d, doc, k2.publicKey)).toThrow(/does not verify/);
    expect(() => verifyDigest('x', d, undefined, k1.publicKey)).toThrow(/not signed/);
    expect(() => verifyDigest('x', `sha256:${'d'.repeat(64)}`, doc, k1.publicKey)).toThrow(/does not name/);
  });
});
