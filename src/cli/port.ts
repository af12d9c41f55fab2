import type { Command } from 'commander';

/** `vessel port NAME [PORT[/PROTO]]`: docker's `port`, from the container's lease. */
export function define(program: Command): void {
  program
    .command('port')
    .description('list a container\'s published ports (the host ports chosen at start included), as docker port does')
    .argument('<name>')
    .argument('[port]', 'only this container port, PORT or PORT/PROTO (e.g. 53/udp)')
    .option('--json', 'machine-readable output')
    .action(async (name: string, port: string | undefined, opts: { json?: boolean }) => {
      const { VesselError } = await import('../util/index.js');
      const { publishedPorts, portLines } = await import('../net/index.js');
      const mine = (await publishedPorts()).find((p) => p.container === name);
      if (!mine) {
        throw new VesselError('E_NOT_FOUND', `container ${name}: not on a vessel network now (no lease), so it publishes no ports`, {
          hint: 'vessel ps shows what runs; ports are published while the container runs',
        });
      }
      const lines = portLines(mine, port);
      process.stdout.write(opts.json ? JSON.stringify(mine, null, 2) + '\n' : lines.map((l) => `${l}\n`).join(''));
    });
}
