import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('tags')
    .description('list the tags of an image in a registry')
    .argument('<image>', 'URL/NAME (or NAME with a configured registry)')
    .option('--registry <url>', 'registry URL; IMAGE is then NAME')
    .option('--json', 'a JSON array')
    .action(async (image: string, opts: { registry?: string; json?: boolean }) => {
      const { config } = await import('../util/index.js');
      const { parseImageLocation, parseRegistryUrl, openRegistry } = await import('../registry/index.js');
      const { parseImageRef } = await import('../image/index.js');
      const loc = opts.registry ? { registry: parseRegistryUrl(opts.registry), ref: parseImageRef(image) } : parseImageLocation(image, config().registry);
      const reg = await openRegistry(loc.registry);
      try {
        const tags = await reg.tags(loc.ref.name);
        process.stdout.write(opts.json ? JSON.stringify(tags) + '\n' : tags.map((t) => `${t}\n`).join(''));
      } finally {
        await reg.close();
      }
    });
}
