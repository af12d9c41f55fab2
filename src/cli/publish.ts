import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('publish')
    .description('upload an image to a registry (file, http(s), s3, sftp, ftp(s), zfs, zfs+ssh, oci URLs)')
    .argument('<image>', 'local image NAME[:TAG] or id')
    .argument('[url]', 'registry URL (default: APPC_REGISTRY_URL / VESSEL_REGISTRY)')
    .option('--as <name>', 'publish under another NAME[:TAG]')
    .option('--sign <key>', 'sign the manifest digest with this Ed25519 private key (PEM)')
    .option('--json', 'progress and result as JSON lines on stdout')
    .action(async (image: string, url: string | undefined, opts: { as?: string; sign?: string; json?: boolean }) => {
      const { config } = await import('../util/index.js');
      const { VesselError } = await import('../util/index.js');
      const { parseRegistryUrl, openRegistry, publish, makeReporter } = await import('../registry/index.js');
      const text = url ?? config().registry;
      if (!text) throw new VesselError('E_USAGE', 'publish: no registry URL given and none configured', { hint: 'vessel publish IMAGE URL, or set APPC_REGISTRY_URL (or VESSEL_REGISTRY)' });
      const reg = await openRegistry(parseRegistryUrl(text));
      const rep = makeReporter({ json: opts.json ?? false, tty: Boolean(process.stderr.isTTY), label: `publishing ${image}` });
      try {
        const r = await publish(image, reg, { ...(opts.as ? { as: opts.as } : {}), ...(opts.sign ? { signKey: opts.sign } : {}), reporter: rep });
        if (!opts.json) process.stdout.write(`${reg.display}/${r.ref.name}:${r.ref.tag}@${r.digest} (${r.uploaded} uploaded, ${r.skipped} already there)\n`);
      } finally {
        await reg.close();
      }
    });
}
