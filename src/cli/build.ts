import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('build')
    .description('build an image from a Vesselfile (Dockerfile syntax)')
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <file>', 'the Vesselfile (default CONTEXT/Vesselfile)')
    .requiredOption('-t, --tag <name>', 'NAME[:TAG] of the image')
    .option('--no-cache', 'do not reuse layers from earlier builds')
    .option('--build-arg <arg>', 'KEY=VALUE for an ARG (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--network <mode>', 'network of RUN steps: none or host', 'none')
    .option('-q, --quiet', 'print only the image id')
    .action(async (context: string, opts: { file?: string; tag: string; cache: boolean; buildArg: string[]; network: string; quiet?: boolean }) => {
      const { buildImage } = await import('../build/index.js');
      const { VesselError } = await import('../util/index.js');
      if (opts.network !== 'none' && opts.network !== 'host') throw new VesselError('E_USAGE', `--network ${opts.network}: expected none or host`);
      const buildArgs: Record<string, string> = {};
      for (const a of opts.buildArg) {
        const i = a.indexOf('=');
        if (i <= 0) throw new VesselError('E_USAGE', `--build-arg ${a}: expected KEY=VALUE`);
        buildArgs[a.slice(0, i)] = a.slice(i + 1);
      }
      const rec = await buildImage({
        context,
        tag: opts.tag,
        noCache: !opts.cache,
        network: opts.network,
        buildArgs,
        ...(opts.file ? { file: opts.file } : {}),
        ...(opts.quiet ? {} : { log: (l: string) => process.stderr.write(l + '\n') }),
      });
      process.stdout.write(`${rec.id}\n`);
    });
}
