import type { Command } from 'commander';
import { formatTable } from '../util/index.js';

/** `vessel network create|ls|inspect|rm`: named networks (src/net). */
export function define(program: Command): void {
  const cmd = program.command('network').description('manage named container networks (bridge, subnet, published ports)');

  cmd
    .command('create <name>')
    .description('create a network; its subnet is taken from the pool unless --subnet is given')
    .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.88.0.0/24')
    .action(async (name: string, opts: { subnet?: string }) => {
      const { createNetwork } = await import('../net/index.js');
      const net = await createNetwork(name, opts.subnet === undefined ? {} : { subnet: opts.subnet });
      process.stdout.write(`${net.name} ${net.subnet} ${net.bridge}\n`);
    });

  cmd
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { listNetworkInfo } = await import('../net/index.js');
      const nets = await listNetworkInfo();
      if (opts.json) {
        process.stdout.write(JSON.stringify(nets, null, 2) + '\n');
        return;
      }
      const rows = [
        ['NAME', 'SUBNET', 'GATEWAY', 'BRIDGE', 'CONTAINERS', 'CREATED BY'],
        ...nets.map((n) => [n.name, n.subnet, n.gateway, n.bridge, String(n.containers.length), n.auto ? 'first use' : 'network create']),
      ];
      process.stdout.write(formatTable(rows));
    });

  cmd
    .command('inspect <name>')
    .description('show a network, its members, addresses and published ports (JSON)')
    .action(async (name: string) => {
      const { inspectNetwork } = await import('../net/index.js');
      process.stdout.write(JSON.stringify(await inspectNetwork(name), null, 2) + '\n');
    });

  cmd
    .command('reload')
    .description('recreate bridges and reload the nft rules from the records (after a firewall reload flushed them)')
    .action(async () => {
      const { reloadNetworks } = await import('../net/index.js');
      const nets = await reloadNetworks();
      process.stdout.write(`${nets.length} network${nets.length === 1 ? '' : 's'} reloaded\n`);
    });

  cmd
    .command('rm <name...>')
    .alias('remove')
    .description('remove networks no container uses')
    .action(async (names: string[]) => {
      const { removeNetwork } = await import('../net/index.js');
      for (const name of names) {
        await removeNetwork(name);
        process.stdout.write(`${name}\n`);
      }
    });
}
