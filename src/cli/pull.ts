import type { Command } from 'commander';
import { callerPath, processIo, type CliIo } from './io.js';

export function define(program: Command): void {
  program
    .command('pull')
    .description('fetch an image from a registry into the local store')
    .argument('<image>', '[URL/]NAME[:TAG] (without URL: from APPC_REGISTRY_URL / VESSEL_REGISTRY)')
    .option('--registry <url>', 'registry URL; IMAGE is then NAME[:TAG] and NAME may contain "/"')
    .option('--as <name>', 'store under another local NAME[:TAG]')
    .option('--verify <pubkey>', 'refuse the image unless its manifest digest is signed by this Ed25519 public key (PEM)')
    .option('--into-zfs <dataset>', 'zfs registries: also receive the layer datasets into DATASET (zfs send/recv)')
    .option('--json', 'progress and result as JSON lines on stdout')
    .action((image: string, opts: PullCliOptions) => pullAction(image, opts, processIo()));
}

export interface PullCliOptions {
  registry?: string;
  as?: string;
  verify?: string;
  intoZfs?: string;
  json?: boolean;
}

/** `vessel pull`, for this process or for a caller of vessel up (serve.ts). */
export async function pullAction(image: string, opts: PullCliOptions, io: CliIo): Promise<void> {
  const { config, VesselError } = await import('../util/index.js');
  const { parseImageRef } = await import('../image/index.js');
  const { parseImageLocation, parseRegistryUrl, openRegistry, pull, makeReporter } = await import('../registry/index.js');
  const loc = opts.registry ? { registry: parseRegistryUrl(opts.registry), ref: parseImageRef(image) } : parseImageLocation(image, config().registry);
  const local = opts.as ? parseImageRef(opts.as) : loc.ref;
  if (opts.intoZfs && loc.registry.scheme !== 'zfs' && loc.registry.scheme !== 'zfs+ssh') {
    throw new VesselError('E_USAGE', '--into-zfs: only for zfs:// and zfs+ssh:// registries');
  }
  const reg = await openRegistry(loc.registry);
  const rep = makeReporter({ json: opts.json ?? false, tty: io.tty, label: `pulling ${loc.ref.name}:${loc.ref.tag}`, out: { write: opts.json ? io.out : io.err } });
  try {
    // a key file is the caller's: relative to its working directory
    const verifyKey = opts.verify === undefined ? {} : { verifyKey: callerPath(io, opts.verify) };
    const r = await pull(reg, loc.ref.name, loc.ref.tag, local, { ...verifyKey, reporter: rep, ...(io.signal ? { signal: io.signal } : {}) });
    if (opts.intoZfs) {
      const { ZfsRegistry } = await import('../registry/index.js');
      if (reg instanceof ZfsRegistry) {
        const ds = await reg.replicate(loc.ref.name, loc.ref.tag, opts.intoZfs);
        if (opts.json) io.out(JSON.stringify({ event: 'zfs', datasets: ds }) + '\n');
      }
    }
    if (!opts.json) io.out(`${r.image.name}:${r.image.tag} ${r.image.id} (${r.fetched} fetched, ${r.skipped} already here)\n`);
  } finally {
    await reg.close();
  }
}
