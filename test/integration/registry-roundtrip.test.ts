import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { importTestImages } from '../helpers/registry-images.js';
import { events, roundTrip } from '../helpers/registry-cases.js';
import {
  startDockerRegistry, startHttpServer, startPureFtpd, startS3rver, startSshd, startZfs,
  type FtpServer, type HttpServer, type OciServer, type S3Server, type SshServer, type ZfsServer,
} from '../helpers/registry-servers.js';

/**
 * publish → pull round trips on every transport, against real servers on 127.0.0.1 started
 * here. Each: busybox and a two-layer image sharing busybox's layer are published (the shared
 * layer goes once), the tags are listed, and a fresh store pulls the layered image with the
 * same image id and manifest digest.
 */
let src: TestRoot;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  src = makeRoot('registry-src');
  cleanups.push(() => src.dispose());
  await importTestImages(src);
}, 180_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('file://', () => {
  it('round trip, and the pulled layered image runs with its layers applied', async () => {
    const dir = mkdtempSync('/tmp/vessel-reg-file-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dst = await roundTrip(src, cleanups, `file://${dir}`);
    const motd = await vessel(dst, ['run', '--rm', 'layered', 'cat', '/etc/motd']);
    expect(motd.stdout).toBe('layer two\n');
    const wh = await vessel(dst, ['run', '--rm', 'layered', 'ls', '/www']);
    expect(wh.stdout.split('\n')).not.toContain('index.html');
    // Layout: blobs by digest, one ref object per tag.
    expect(readdirSync(`${dir}/refs/layered/_`)).toEqual(['latest']);
  });
});

describe('http(s)://', () => {
  let srv: HttpServer;
  let tls: HttpServer;
  beforeAll(async () => {
    srv = await startHttpServer();
    tls = await startHttpServer({ tls: true });
    cleanups.push(() => srv.stop(), () => tls.stop());
  });

  it('round trip over http with PUT', async () => {
    await roundTrip(src, cleanups, srv.url);
    // Pulls use GET only; tags come from the tag index (no listing over http).
    expect(srv.requests.some((r) => r.path.endsWith('/_tags.json'))).toBe(true);
  });

  it('round trip over https (certificate from NODE_EXTRA_CA_CERTS)', async () => {
    await roundTrip(src, cleanups, tls.url, { NODE_EXTRA_CA_CERTS: `${tls.dir}/cert.pem` });
  });

  it('a server that refuses PUT gives a clear error', async () => {
    const ro = await startHttpServer({ allowPut: false });
    cleanups.push(() => ro.stop());
    const r = await vessel(src, ['publish', 'busybox', ro.url]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/does not accept uploads/);
  });
});

describe('s3:// (s3rver)', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3rver();
    cleanups.push(() => s3.stop());
  });

  it('round trip with the SDK configured from the environment', async () => {
    await roundTrip(src, cleanups, `s3://${s3.bucket}/images`, s3.env);
  });

  it('round trip with the endpoint in the URL', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
    await roundTrip(src, cleanups, `s3://${s3.bucket}/other`, env, { query: `?endpoint=${encodeURIComponent(s3.endpoint)}` });
  });
});

describe('sftp://', () => {
  let ssh: SshServer;
  beforeAll(async () => {
    ssh = await startSshd();
    cleanups.push(() => ssh.stop());
  });

  it('round trip with key auth and known_hosts pinning', async () => {
    await roundTrip(src, cleanups, `sftp://root@127.0.0.1:${ssh.port}${ssh.dir}/registry`, { VESSEL_SSH_KEY: ssh.key, VESSEL_KNOWN_HOSTS: ssh.knownHosts });
    expect(existsSync(`${ssh.dir}/registry/refs/layered/_/latest`)).toBe(true);
  });

  it('round trip with the host key pinned in the URL', async () => {
    const url = `sftp://root@127.0.0.1:${ssh.port}${ssh.dir}/pinned?hostkey=${encodeURIComponent(ssh.hostFingerprint)}`;
    const r = await vessel(src, ['publish', 'busybox', url], { env: { VESSEL_SSH_KEY: ssh.key } });
    expect(r.code, r.stderr).toBe(0);
  });

  it('an unknown or wrong host key is refused', async () => {
    const unknown = await vessel(src, ['publish', 'busybox', `sftp://root@127.0.0.1:${ssh.port}${ssh.dir}/x`], { env: { VESSEL_SSH_KEY: ssh.key, VESSEL_KNOWN_HOSTS: '/dev/null' } });
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toMatch(/host key of 127\.0\.0\.1:\d+ is not known/);
    const wrong = await vessel(src, ['publish', 'busybox', `sftp://root@127.0.0.1:${ssh.port}${ssh.dir}/x?hostkey=SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`], { env: { VESSEL_SSH_KEY: ssh.key } });
    expect(wrong.code).toBe(125);
    expect(wrong.stderr).toMatch(/does not match the pinned key/);
    expect(existsSync(`${ssh.dir}/x`)).toBe(false);
  });

  it('a key the server does not know is a clear error', async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${ssh.dir}/stranger`]);
    const r = await vessel(src, ['publish', 'busybox', `sftp://root@127.0.0.1:${ssh.port}${ssh.dir}/x`], { env: { VESSEL_SSH_KEY: `${ssh.dir}/stranger`, VESSEL_KNOWN_HOSTS: ssh.knownHosts } });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/ssh authentication failed for user "root"/);
  });
});

describe('ftps:// (pure-ftpd, explicit TLS)', () => {
  let ftp: FtpServer;
  beforeAll(async () => {
    ftp = await startPureFtpd();
    cleanups.push(() => ftp.stop());
  });

  it('round trip over explicit TLS, password from the environment', async () => {
    await roundTrip(src, cleanups, `ftps://${ftp.user}@127.0.0.1:${ftp.port}/registry`, { VESSEL_FTP_PASSWORD: ftp.password, NODE_EXTRA_CA_CERTS: ftp.cert });
    expect(existsSync(`${ftp.home}/registry/refs/layered/_/latest`)).toBe(true);
  });

  it('wrong password: clear error, and the password is never printed, even in debug logs', async () => {
    const r = await vessel(src, ['publish', 'busybox', `ftps://${ftp.user}:not-the-password@127.0.0.1:${ftp.port}/registry`], { env: { NODE_EXTRA_CA_CERTS: ftp.cert, VESSEL_LOG_LEVEL: 'debug' } });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/login refused \(FTP 530\)/);
    expect(r.stdout + r.stderr).not.toContain('not-the-password');
  });
});

describe('oci:// (docker-registry with bearer tokens)', () => {
  let reg: OciServer;
  beforeAll(async () => {
    reg = await startDockerRegistry({ token: true });
    cleanups.push(() => reg.stop());
  });

  it('round trip with basic credentials exchanged for a bearer token', async () => {
    await roundTrip(src, cleanups, `oci://${reg.hostPort}/vessel`, { VESSEL_REGISTRY_USER: reg.user, VESSEL_REGISTRY_PASSWORD: reg.password }, { perRepositoryBlobs: true });
  });

  it('wrong credentials: clear error', async () => {
    const r = await vessel(src, ['publish', 'busybox', `oci://vessel:wrong-secret@${reg.hostPort}/vessel`]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/access denied \(HTTP 401\)/);
    expect(r.stderr).not.toContain('wrong-secret');
  });
});

describe('zfs:// (zfs-fuse pools)', () => {
  let zfs: ZfsServer;
  const suffix = Math.random().toString(36).slice(2, 7);
  const regPool = `vreg${suffix}`;
  const locPool = `vloc${suffix}`;
  beforeAll(async () => {
    zfs = await startZfs([regPool, locPool]);
    cleanups.push(() => zfs.stop());
    execFileSync('zfs', ['create', `${regPool}/images`]);
  });

  it('round trip; layers become a clone chain of datasets', async () => {
    await roundTrip(src, cleanups, `zfs://${regPool}/images`);
    const list = execFileSync('zfs', ['list', '-H', '-o', 'name,origin', '-r', `${regPool}/images/layers`], { encoding: 'utf8' });
    const rows = list.trim().split('\n').map((l) => l.split('\t'));
    // layers dataset itself + base + top; the top is a clone of the base's snapshot.
    expect(rows).toHaveLength(3);
    const top = rows.find((r) => r[1] !== '-');
    expect(top?.[1]).toMatch(new RegExp(`^${regPool}/images/layers/[0-9a-f]{32}@vessel$`));
  });

  it('zfs+ssh:// round trip through sshd: zfs commands over ssh2, files over OpenSSH\'s sftp', async () => {
    const ssh = await startSshd();
    cleanups.push(() => ssh.stop());
    execFileSync('zfs', ['create', `${regPool}/remote`]);
    await roundTrip(src, cleanups, `zfs+ssh://root@127.0.0.1:${ssh.port}/${regPool}/remote`, { VESSEL_SSH_KEY: ssh.key, VESSEL_KNOWN_HOSTS: ssh.knownHosts });
    const list = execFileSync('zfs', ['list', '-H', '-o', 'name', '-r', `${regPool}/remote/layers`], { encoding: 'utf8' });
    expect(list.trim().split('\n')).toHaveLength(3);
  });

  it('pull --into-zfs receives the layers as send streams, the top one with its parent as origin', async () => {
    const dst = makeRoot('registry-zfs-recv');
    cleanups.push(() => dst.dispose());
    const r = await vessel(dst, ['pull', '--json', '--into-zfs', `${locPool}/images`, `zfs://${regPool}/images/layered:latest`], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const ds = (events(r.stdout).find((e) => e.event === 'zfs')?.datasets ?? []) as string[];
    expect(ds).toHaveLength(2);
    const origin = execFileSync('zfs', ['get', '-H', '-o', 'value', 'origin', ds[1]!], { encoding: 'utf8' }).trim();
    expect(origin).toBe(`${ds[0]}@vessel`);
    const mnt = execFileSync('zfs', ['get', '-H', '-o', 'value', 'mountpoint', ds[1]!], { encoding: 'utf8' }).trim();
    execFileSync('zfs', ['mount', ds[1]!], { stdio: 'ignore' });
    expect(execFileSync('cat', [`${mnt}/etc/motd`], { encoding: 'utf8' })).toBe('layer two\n');
    expect(existsSync(`${mnt}/www/index.html`)).toBe(false);
    expect(existsSync(`${mnt}/bin/busybox`)).toBe(true);
  });
});
