import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeRoot, until, vessel, type TestRoot } from '../helpers/vessel.js';
import { manyLayerImage } from '../helpers/registry-images.js';
import { images, runCleanups, tampered } from '../helpers/registry-cases.js';
import {
  startDockerRegistry, startHttpServer, startPureFtpd, startS3rver, startSshd, startTcpProxy,
  type FtpServer, type HttpServer, type OciServer, type S3Server, type SshServer, type TcpProxy,
} from '../helpers/registry-servers.js';
import { openRegistry, parseImageLocation, pull, type ProgressEvent, type PullResult, type Registry, type Reporter } from '../../src/registry/index.js';

/**
 * A pull's AbortSignal reaches its transfers wherever they wait, not only between chunks: against
 * a server that sends a layer's first bytes and then nothing (the http server's stallGets; a TCP
 * proxy that holds back what s3rver, sshd and docker-registry send — s3rver read both by the
 * small signed client and by the AWS SDK; pure-ftpd stopped with SIGSTOP), an aborted pull — its
 * caller gone — ends at once with the signal's reason, well before any transport's own timeout
 * (60 s for http, S3 and FTP, ~30 s of ssh keepalives), keeps what it fetched for the rerun, and
 * lets go of the server's connection (sftp: keeps its one session, which the rerun goes on
 * using). One failing layer stops a stalled one the same way. The pulls run in this process (the
 * CLI's own pull(), with an AbortController), into a store of their own.
 */
const dst = makeRoot('registry-abort');
// The in-process pulls' store: config() reads it on first use.
process.env.VESSEL_ROOT = dst.root;
let src: TestRoot;
let srv: HttpServer;
let s3: S3Server;
let ssh: SshServer;
let oci: OciServer;
let ftp: FtpServer;
let s3Proxy: TcpProxy;
let sshProxy: TcpProxy;
let ociProxy: TcpProxy;
const cleanups: Array<() => Promise<void> | void> = [() => dst.dispose()];
const LAYERS = 3;
const MB = 6;
/** Far below every transport's own timeout, far above what an abort takes (a few ms). */
const PROMPT_MS = 10_000;

beforeAll(async () => {
  src = makeRoot('registry-abort-src');
  cleanups.push(() => src.dispose());
  srv = await startHttpServer();
  cleanups.push(() => srv.stop());
  s3 = await startS3rver();
  cleanups.push(() => s3.stop());
  ssh = await startSshd();
  cleanups.push(() => ssh.stop());
  oci = await startDockerRegistry();
  cleanups.push(() => oci.stop());
  // Paced as the proxies are when a test stalls them: a layer is mid-transfer when the server
  // stops, and few of its bytes are on their way (unpaced, ~4 MiB sit in the socket buffers).
  ftp = await startPureFtpd({ downloadBytesPerSecond: 4 << 20 });
  cleanups.push(() => ftp.stop());
  s3Proxy = await startTcpProxy(Number(new URL(s3.endpoint).port));
  sshProxy = await startTcpProxy(ssh.port);
  ociProxy = await startTcpProxy(oci.port);
  cleanups.push(() => s3Proxy.stop(), () => sshProxy.stop(), () => ociProxy.stop());
  await manyLayerImage(src, 'many:latest', LAYERS, MB);
  // Plain tars: a tampered one is refused with "digest mismatch" (no decompressor speaks first).
  await manyLayerImage(src, 'plain:latest', LAYERS, MB, ['none']);
  for (const [img, url, env] of [
    ['many', `${srv.url}/abort`, {}], ['plain', `${srv.url}/abort`, {}],
    ['many', `s3://${s3.bucket}/abort`, s3.env],
    ['many', `oci://${oci.hostPort}/abort`, {}],
    ['many', `sftp://root@127.0.0.1:${ssh.port}${ssh.dir}/abort?hostkey=${encodeURIComponent(ssh.hostFingerprint)}`, { VESSEL_SSH_KEY: ssh.key }],
    ['many', URLS.ftp(), { VESSEL_FTP_PASSWORD: ftp.password }],
  ] as const) {
    const p = await vessel(src, ['publish', img, url], { env, timeoutMs: 180_000 });
    if (p.code !== 0) throw new Error(`publish ${img} to ${url}: ${p.stderr}`);
  }
  // What the in-process pulls read of the environment: S3 through its proxy, ssh's key, FTP's password.
  Object.assign(process.env, s3.env, { AWS_ENDPOINT_URL: `http://127.0.0.1:${s3Proxy.port}`, VESSEL_SSH_KEY: ssh.key, VESSEL_FTP_PASSWORD: ftp.password });
}, 300_000);

afterAll(() => runCleanups(cleanups), 60_000);

const URLS = {
  http: () => `${srv.url}/abort`,
  s3: () => `s3://${s3.bucket}/abort`,
  // The same bucket through the AWS SDK: an endpoint naming a user is a form s3-config.ts leaves
  // to the SDK (which drops the user), through the same proxy (see open()).
  's3-sdk': () => `s3://${s3.bucket}/abort`,
  sftp: () => `sftp://root@127.0.0.1:${sshProxy.port}${ssh.dir}/abort`,
  // docker-registry (OCI distribution), its blobs read with Node's own http client
  oci: () => `oci://127.0.0.1:${ociProxy.port}/abort`,
  // pure-ftpd, plain FTP: its PASV data connections bypass any one-port proxy (stalled by SIGSTOP instead)
  ftp: () => `ftp://${ftp.user}@127.0.0.1:${ftp.port}/abort`,
};
type Kind = keyof typeof URLS;

async function open(kind: Kind, image = 'many'): Promise<{ reg: Registry; name: string; tag: string }> {
  const q = kind === 'sftp' ? `?hostkey=${encodeURIComponent(ssh.hostFingerprint)}`
    : kind === 's3-sdk' ? `?endpoint=${encodeURIComponent(`http://sdk@127.0.0.1:${s3Proxy.port}`)}` : '';
  const loc = parseImageLocation(`${URLS[kind]()}/${image}:latest${q}`, undefined);
  return { reg: await openRegistry(loc.registry), name: loc.ref.name, tag: loc.ref.tag };
}

/** Counts the bytes a pull has taken (to stall it once it is well under way), and keeps its events. */
function counting(): Reporter & { done: number; events: ProgressEvent[] } {
  const r = { done: 0, events: [] as ProgressEvent[], emit: (e: ProgressEvent) => { r.events.push(e); }, finish: () => undefined, bytes: (n: number) => { r.done += n; } };
  return r;
}

/** How `p` settled within `ms`: its value, its error, or 'still running'. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | unknown> {
  return Promise.race([p.then((v) => v, (e: unknown) => e), sleep(ms, 'still running', { ref: false })]);
}

/** The blob files a stopped pull left for its rerun (in images/tmp/pull-MANIFEST/). */
function keptParts(): Array<{ name: string; size: number }> {
  const tmp = join(dst.root, 'images', 'tmp');
  const dirs = existsSync(tmp) ? readdirSync(tmp).filter((d) => d.startsWith('pull-')) : [];
  return dirs.flatMap((d) => readdirSync(join(tmp, d)).filter((f) => /^[0-9a-f]{64}(\.part)?$/.test(f)).map((f) => ({ name: f, size: statSync(join(tmp, d, f)).size })));
}

const idOf = async (t: TestRoot, name: string) => (await images(t)).find((i) => i.name === name)?.id;

/** The image's layers as published (the same manifest everywhere: read from the http server's files). */
function layersOf(image: string): Array<{ digest: string; size: number }> {
  const reg = join(srv.root, 'abort');
  const ref = JSON.parse(readFileSync(join(reg, 'refs', image, '_', 'latest'), 'utf8')) as { digest: string };
  return (JSON.parse(readFileSync(join(reg, 'blobs', 'sha256', ref.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> }).layers;
}

/** Remove the image this file pulled, so that the next test pulls it again (layers and all). */
async function forget(image: string): Promise<void> {
  for (const args of [['image', 'rm', image], ['image', 'prune']]) await vessel(dst, args);
  expect(keptParts()).toEqual([]);
}

describe('an aborted pull from a stalled server', () => {
  it('http: rejects at once with the signal\'s reason, the server sees its connections closed, the partial blobs stay, the rerun resumes them', async () => {
    srv.stallGets(1 << 20);
    const { reg, name, tag } = await open('http');
    const ac = new AbortController();
    let p: Promise<PullResult> | undefined;
    try {
      p = pull(reg, name, tag, { name, tag }, { signal: ac.signal });
      p.catch(() => undefined);
      await until(() => srv.stalledOpen() >= LAYERS, 60_000, 'every layer stalled');
      // every byte the server sent is in: the kept blobs end exactly where it stopped
      await until(() => keptParts().filter((x) => x.size === 1 << 20).length === LAYERS, 30_000, 'the sent bytes written');
      const reason = new Error('the caller went away');
      ac.abort(reason);
      expect(await within(p, PROMPT_MS)).toBe(reason);
      await until(() => srv.stalledOpen() === 0, PROMPT_MS, 'the server to see its connections closed');
    } finally {
      srv.stallGets(undefined);
      await reg.close();
    }
    const parts = keptParts();
    expect(parts).toHaveLength(LAYERS);
    for (const part of parts) expect(part.size).toBe(1 << 20);
    const mark = srv.requests.length;
    const again = await open('http');
    try {
      const r = await pull(again.reg, name, tag, { name, tag });
      expect(r.image.id).toBe(await idOf(src, 'many'));
    } finally {
      await again.reg.close();
    }
    // Each layer asked only for what it lacked.
    const gets = srv.requests.slice(mark).filter((q) => q.method === 'GET' && layersOf('many').some((l) => q.path.endsWith(l.digest.slice(7))));
    expect(gets).toHaveLength(LAYERS);
    for (const g of gets) expect(g.range).toBe(`bytes=${1 << 20}-`);
    await forget('many:latest');
  }, 120_000);

  it.each(['s3', 's3-sdk', 'sftp', 'oci'] as const)('%s through a proxy that holds back what the server sends: rejects at once with the reason; the rerun resumes', async (kind) => {
    const proxy = kind === 's3' || kind === 's3-sdk' ? s3Proxy : kind === 'oci' ? ociProxy : sshProxy;
    const { reg, name, tag } = await open(kind);
    const ac = new AbortController();
    const rep = counting();
    const accepted = () => proxy.accepted();
    try {
      // Slowed, so that the layers are mid-transfer when the proxy stops passing bytes on.
      proxy.throttle(4 << 20);
      const p = pull(reg, name, tag, { name, tag }, { signal: ac.signal, reporter: rep });
      p.catch(() => undefined);
      await until(() => rep.done > 2 << 20, 60_000, 'the layers under way');
      proxy.stall();
      proxy.throttle(0);
      await until(() => proxy.stalledOpen() >= 1, 30_000, 'the server\'s bytes held back');
      const reason = new Error('the caller went away');
      ac.abort(reason);
      expect(await within(p, PROMPT_MS)).toBe(reason);
      // S3 and OCI: each layer's connection is closed (its bytes were held); sftp: the one ssh
      // connection stays, for the other reads of the session.
      if (kind !== 'sftp') await until(() => proxy.stalledOpen() === 0, PROMPT_MS, 'the layers\' connections closed');
      else expect(proxy.stalledOpen()).toBe(1);
    } finally {
      proxy.throttle(0);
      proxy.unstall();
    }
    const parts = keptParts();
    expect(parts.length).toBeGreaterThan(0);
    expect(parts.reduce((a, x) => a + x.size, 0)).toBeGreaterThan(0);
    const sessions = accepted();
    const mark = proxy.requests.length;
    try {
      // The same registry: over sftp, the same session, which the abandoned reads left in step.
      const r = await pull(reg, name, tag, { name, tag });
      expect(r.image.id).toBe(await idOf(src, 'many'));
      if (kind === 'sftp') expect(accepted()).toBe(sessions);
      else expect(proxy.requests.slice(mark).some((q) => q.method === 'GET' && /^bytes=[1-9]\d*-$/.test(q.range ?? ''))).toBe(true);
      // The SDK's GetObject says its name in the query; the small signed client's GET does not.
      if (kind.startsWith('s3')) expect(proxy.requests.slice(mark).some((q) => q.path.includes('x-id=GetObject'))).toBe(kind === 's3-sdk');
    } finally {
      await reg.close();
    }
    await forget('many:latest');
  }, 120_000);

  it('ftp, the server stopped (SIGSTOP) inside a layer: rejects at once with the reason, the partial blob stays, the rerun resumes it', async () => {
    const { reg, name, tag } = await open('ftp');
    const ac = new AbortController();
    const rep = counting();
    const again = counting();
    let partial: Array<{ name: string; size: number }>;
    try {
      try {
        const p = pull(reg, name, tag, { name, tag }, { signal: ac.signal, reporter: rep });
        p.catch(() => undefined);
        await until(() => rep.done > 2 << 20, 60_000, 'the first layer under way');
        ftp.stall();
        // What the server had sent before it stopped is taken in, then nothing more comes.
        await until(async () => {
          const before = rep.done;
          await sleep(500);
          return rep.done === before;
        }, 30_000, 'the transfer to stand still');
        expect(ftp.established()).toBeGreaterThan(0);
        const reason = new Error('the caller went away');
        ac.abort(reason);
        expect(await within(p, PROMPT_MS)).toBe(reason);
        // Let go of while the server is still stopped, not when it answers again.
        await until(() => ftp.established() === 0, PROMPT_MS, 'the connections to the stopped server closed');
      } finally {
        ftp.unstall();
      }
      // The stop came inside a layer: its part is kept, short of the layer's size.
      const layers = layersOf('many');
      partial = keptParts().filter((x) => x.name.endsWith('.part') && x.size > 0 && x.size < layers.find((l) => x.name.startsWith(l.digest.slice(7)))!.size);
      expect(partial).toHaveLength(1);
      // The abandoned session, continued, finds its connections closed and ends.
      await until(() => ftp.sessions().length === 0, PROMPT_MS, 'the aborted FTP session to end');
      // The same registry: its next call logs in afresh.
      const r = await pull(reg, name, tag, { name, tag }, { reporter: again });
      expect(r.image.id).toBe(await idOf(src, 'many'));
    } finally {
      await reg.close();
    }
    // The stopped layer went on from its kept bytes (REST): a wrong offset would fail its digest.
    const digest = `sha256:${partial[0]!.name.slice(0, 64)}`;
    expect(again.events).toContainEqual(expect.objectContaining({ event: 'blob', digest, action: 'resume' }));
    await forget('many:latest');
  }, 120_000);

  it('ftp, the server stopped before it greets: the aborted pull rejects at once, and closing the registry lets go of the login', async () => {
    const { reg, name, tag } = await open('ftp');
    const ac = new AbortController();
    try {
      ftp.stall();
      // The kernel completes the connection into the stopped server's backlog; no greeting comes.
      const p = pull(reg, name, tag, { name, tag }, { signal: ac.signal, reporter: counting() });
      p.catch(() => undefined);
      await until(() => ftp.established() > 0, PROMPT_MS, 'the login\'s connection');
      const reason = new Error('the caller went away');
      ac.abort(reason);
      expect(await within(p, PROMPT_MS)).toBe(reason);
      // As the CLI does after a pull: the login still waiting for its greeting is closed with it,
      // while the server is still stopped (before: kept until the library's own 60 s timeout).
      await reg.close();
      await until(() => ftp.established() === 0, PROMPT_MS, 'the login\'s connection closed');
    } finally {
      ftp.unstall();
      await reg.close();
    }
    await until(() => ftp.sessions().length === 0, PROMPT_MS, 'the server to find its client gone');
    expect(keptParts()).toEqual([]);
  }, 60_000);
});

describe('one layer fails while another is stalled', () => {
  it('a tampered layer: the pull fails at once with the mismatch, the stalled download is cut, nothing kept', async () => {
    const [bad, stuck] = layersOf('plain');
    const real = readFileSync(join(srv.root, 'abort', 'blobs', 'sha256', bad!.digest.slice(7)));
    const fake = tampered(real);
    srv.tamper(`/abort/blobs/sha256/${bad!.digest.slice(7)}`, fake);
    srv.stallGets(1 << 20, stuck!.digest.slice(7));
    const { reg, name, tag } = await open('http', 'plain');
    try {
      const p = pull(reg, name, tag, { name, tag });
      p.catch(() => undefined);
      // The tampered layer arrives whole at once (loopback), and its mismatch stops the stalled one.
      const got = await within(p, PROMPT_MS);
      expect(got).toBeInstanceOf(Error);
      expect((got as Error).message).toMatch(/digest mismatch/);
      // the stalled layer was under way, and did not hold the failure back
      expect(srv.requests.some((q) => q.stalled && q.path.endsWith(stuck!.digest.slice(7)))).toBe(true);
      await until(() => srv.stalledOpen() === 0, PROMPT_MS, 'the stalled download cut');
    } finally {
      srv.tamper(`/abort/blobs/sha256/${bad!.digest.slice(7)}`, undefined);
      srv.stallGets(undefined);
      await reg.close();
    }
    expect(keptParts()).toEqual([]);
    expect(await idOf(dst, 'plain')).toBeUndefined();
  }, 120_000);
});
