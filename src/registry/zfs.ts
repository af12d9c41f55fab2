import type { Client } from 'ssh2';
import { run, host, VesselError } from '../util/index.js';
import { chainIds as ociChainIds, type Digest } from '../image/index.js';
import type { RegistryUrl } from './url.js';
import type { ChunkSink, FetchedManifest, ReadOptions, Registry } from './transport.js';
import { DumbRegistry, keys } from './layout.js';
import { sshConnect } from './ssh.js';

type ZfsUrl = Extract<RegistryUrl, { scheme: 'zfs' | 'zfs+ssh' }>;

export const SNAP = 'vessel';

/**
 * A registry on a ZFS dataset (zfs://POOL/DS, or on another host: zfs+ssh://HOST/POOL/DS).
 * The dataset's filesystem holds the ordinary layout (blobs, refs — verified pulls work from
 * any host, ZFS or not); beside it every layer is a dataset POOL/DS/layers/<chain id> with a
 * snapshot @vessel, cloned from its parent layer's snapshot, so the image chain is a ZFS clone
 * chain: containers start as clones, and replicate() moves images to another pool as `zfs send`
 * streams — the base full, each further layer incremental and received with its parent as origin.
 * The layer datasets are made before the ref is written, like every other part of an image.
 */
interface Exec {
  (argv: string[]): Promise<string>;
}

/** ChainID as OCI defines it: the identity of a layer together with everything below it. */
export function chainIds(diffIds: Digest[]): string[] {
  return ociChainIds(diffIds).map((c) => c.slice('sha256:'.length));
}

/**
 * Applies one layer tar to a directory with OCI semantics: whiteouts (".wh.NAME", opaque
 * ".wh..wh..opq") remove from the lower layers first, then the layer's own entries are
 * extracted. Paths arrive as arguments ($1 blob, $2 destination), never inside the script.
 */
export const APPLY_LAYER_SCRIPT = `set -eu
blob=$1; dst=$2
tar -tf "$blob" | while IFS= read -r p; do
  p=\${p#./}
  case "/$p/" in */../*) echo "layer entry escapes: $p" >&2; exit 1;; esac
  base=\${p##*/}; dir=\${p%"$base"}
  case "$base" in
    .wh..wh..opq) find "$dst/$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} + ;;
    .wh.*) rm -rf "$dst/$dir\${base#.wh.}" ;;
  esac
done
tar -xpf "$blob" -C "$dst" --numeric-owner --exclude='.wh.*'
`;

export class ZfsRegistry implements Registry {
  readonly display: string;
  constructor(
    readonly dataset: string,
    private readonly meta: DumbRegistry,
    private readonly exec: Exec,
    private readonly mountpoint: string,
    private readonly onClose: () => Promise<void>,
  ) {
    this.display = meta.display;
  }

  get parallel(): number { return this.meta.parallel; }

  hasBlob(name: string, d: Digest, size: number) { return this.meta.hasBlob(name, d, size); }
  getBlob(name: string, d: Digest, o?: ReadOptions) { return this.meta.getBlob(name, d, o); }
  pumpBlob(name: string, d: Digest, sink: ChunkSink, o?: ReadOptions) { return this.meta.pumpBlob(name, d, sink, o); }
  putBlob(name: string, d: Digest, size: number, open: () => import('node:stream').Readable, onBytes?: (n: number) => void) { return this.meta.putBlob(name, d, size, open, onBytes); }
  getManifest(name: string, ref: string, o?: { signal?: AbortSignal }) { return this.meta.getManifest(name, ref, o); }
  tags(name: string) { return this.meta.tags(name); }
  putSignature(name: string, d: Digest, doc: string) { return this.meta.putSignature(name, d, doc); }
  getSignature(name: string, d: Digest, o?: { signal?: AbortSignal }) { return this.meta.getSignature(name, d, o); }

  layerDataset(chain: string): string {
    return `${this.dataset}/layers/${chain.slice(0, 32)}`;
  }

  private async exists(ds: string): Promise<boolean> {
    try {
      await this.exec(['zfs', 'list', '-H', '-o', 'name', ds]);
      return true;
    } catch {
      return false;
    }
  }

  /** The layer chain of an image as datasets, made where missing. */
  async materialize(m: FetchedManifest): Promise<string[]> {
    const parsed = JSON.parse(m.text) as { config: { digest: Digest }; layers: Array<{ digest: Digest }> };
    const cfg = JSON.parse((await this.readBlobText(parsed.config.digest))) as { rootfs?: { diff_ids?: Digest[] } };
    const chains = chainIds(cfg.rootfs?.diff_ids ?? []);
    if (chains.length !== parsed.layers.length) throw new VesselError('E_REGISTRY', `${this.display}: config and manifest disagree on the layers`);
    const layersDs = `${this.dataset}/layers`;
    if (!(await this.exists(layersDs))) await this.exec(['zfs', 'create', '-p', layersDs]).catch(async (e: unknown) => { if (!(await this.exists(layersDs))) throw e; });
    const out: string[] = [];
    for (const [i, chain] of chains.entries()) {
      const ds = this.layerDataset(chain);
      out.push(ds);
      if (await this.exists(`${ds}@${SNAP}`)) continue;
      // The snapshot is the commit mark: a dataset without it is a dead publish's, redone.
      // (Not staged under another name and renamed: zfs-fuse calls a fresh mount "busy".)
      if (await this.exists(ds)) await this.exec(['zfs', 'destroy', '-r', ds]);
      if (i === 0) await this.exec(['zfs', 'create', ds]);
      else await this.exec(['zfs', 'clone', `${out[i - 1]}@${SNAP}`, ds]);
      try {
        const mnt = (await this.exec(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', ds])).trim();
        const blob = `${this.mountpoint}/${keys.blob(parsed.layers[i]!.digest)}`;
        await this.exec(['sh', '-c', APPLY_LAYER_SCRIPT, 'vessel-apply-layer', blob, mnt]);
        await this.exec(['zfs', 'snapshot', `${ds}@${SNAP}`]);
      } catch (e) {
        await this.exec(['zfs', 'destroy', '-r', ds]).catch(() => undefined);
        // Another publish made the same layer meanwhile: theirs is as good as ours.
        if (await this.exists(`${ds}@${SNAP}`)) continue;
        throw e;
      }
    }
    return out;
  }

  private async readBlobText(d: Digest): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of (await this.meta.getBlob('', d)) as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  async putManifest(name: string, tag: string, m: FetchedManifest): Promise<void> {
    await this.materialize(m);
    await this.meta.putManifest(name, tag, m);
  }

  /**
   * Copy an image's layer datasets to `target` (a dataset on this host) as send streams: the
   * base layer full, each further one incremental from its parent, so the receiving side gets
   * the same clone chain (its parent as origin). Layers already there are skipped.
   */
  async replicate(name: string, tag: string, target: string): Promise<string[]> {
    const m = await this.meta.getManifest(name, tag);
    if (!m) throw new VesselError('E_NOT_FOUND', `${this.display}/${name}:${tag}: no such image`);
    const src = await this.materialize(m);
    await run(['zfs', 'create', '-p', `${target}/layers`], { allowFailure: true });
    const out: string[] = [];
    for (const [i, ds] of src.entries()) {
      const dst = `${target}/layers/${ds.slice(ds.lastIndexOf('/') + 1)}`;
      out.push(dst);
      if ((await run(['zfs', 'list', '-H', '-o', 'name', `${dst}@${SNAP}`], { allowFailure: true })).exitCode === 0) continue;
      const send = i === 0 ? ['zfs', 'send', `${ds}@${SNAP}`] : ['zfs', 'send', '-i', `${src[i - 1]}@${SNAP}`, `${ds}@${SNAP}`];
      await this.pipeTo(send, ['zfs', 'receive', '-u', dst]);
    }
    return out;
  }

  /** Run `send` where the registry is and pipe it into a local `recv`. */
  protected async pipeTo(send: string[], recv: string[]): Promise<void> {
    const r = host().spawn(recv, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    (r.pipes[2] as NodeJS.ReadableStream).on('data', (c: Buffer) => { err += c.toString(); });
    const sink = r.pipes[0] as NodeJS.WritableStream;
    await this.stream(send, sink);
    const { code } = await r.exited;
    if (code !== 0) throw new VesselError('E_HOST', `${recv.join(' ')}: ${err.trim() || `exit ${code}`}`);
  }

  private stream: (argv: string[], sink: NodeJS.WritableStream) => Promise<void> = async () => undefined;
  setStreamer(s: (argv: string[], sink: NodeJS.WritableStream) => Promise<void>): void {
    this.stream = s;
  }

  close(): Promise<void> {
    return this.onClose();
  }
}

function quoteSh(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Run argv on the ssh host (quoted: the remote side always goes through a shell). */
function sshExec(c: Client, argv: string[], sink?: NodeJS.WritableStream): Promise<string> {
  return new Promise((res, rej) => {
    c.exec(argv.map(quoteSh).join(' '), (e, ch) => {
      if (e) return rej(e);
      let out = '';
      let err = '';
      if (sink) ch.pipe(sink);
      else ch.on('data', (d: Buffer) => { out += d.toString(); });
      ch.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      ch.on('close', (code: number | null) => {
        if (code === 0) res(out);
        else rej(new VesselError('E_HOST', `ssh: ${argv.join(' ')}: ${err.trim() || `exit ${code}`}`));
      });
    });
  });
}

export async function openZfsRegistry(u: ZfsUrl): Promise<ZfsRegistry> {
  if (u.scheme === 'zfs') {
    const exec: Exec = async (argv) => (await run(argv)).stdout;
    const mnt = await datasetMountpoint(exec, u.dataset, u.display);
    const { FileTransport } = await import('./file.js');
    const reg = new ZfsRegistry(u.dataset, new DumbRegistry(new FileTransport(mnt, u.display)), exec, mnt, async () => undefined);
    reg.setStreamer(async (argv, sink) => {
      const s = host().spawn(argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      (s.pipes[2] as NodeJS.ReadableStream).on('data', (c: Buffer) => { err += c.toString(); });
      (s.pipes[1] as NodeJS.ReadableStream).pipe(sink);
      const { code } = await s.exited;
      if (code !== 0) throw new VesselError('E_HOST', `${argv.join(' ')}: ${err.trim() || `exit ${code}`}`);
    });
    return reg;
  }
  const target = { host: u.host, port: u.port, auth: u.auth, params: u.params, display: u.display };
  const client = await sshConnect(target);
  const exec: Exec = (argv) => sshExec(client, argv);
  const mnt = await datasetMountpoint(exec, u.dataset, u.display);
  const { SftpTransport } = await import('./sftp.js');
  const sftp = new SftpTransport(target, mnt);
  const reg = new ZfsRegistry(u.dataset, new DumbRegistry(sftp), exec, mnt, async () => {
    await sftp.close();
    client.end();
  });
  reg.setStreamer(async (argv, sink) => { await sshExec(client, argv, sink); });
  return reg;
}

async function datasetMountpoint(exec: Exec, ds: string, display: string): Promise<string> {
  let mnt: string;
  try {
    mnt = (await exec(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', ds])).trim();
  } catch (e) {
    throw new VesselError('E_REGISTRY', `${display}: dataset ${ds} is not there (${(e as Error).message.split('\n')[0]})`, { hint: `create it: zfs create -p ${ds}` });
  }
  if (!mnt.startsWith('/')) throw new VesselError('E_REGISTRY', `${display}: dataset ${ds} is not mounted (mountpoint ${mnt})`);
  return mnt;
}
