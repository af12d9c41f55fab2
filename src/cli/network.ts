import type { Command } from 'commander';
import { VesselError, formatTable } from '../util/index.js';

/** `--ipv6=false` / `--ipv6 no`: the spec's boolean words, one line naming the flag otherwise. */
function parseIpv6Flag(text: string, parseBool: (v: string) => boolean): boolean {
  try {
    return parseBool(text);
  } catch {
    throw new VesselError('E_USAGE', `--ipv6 ${JSON.stringify(text)}: expected true or false`);
  }
}

/** `vessel network create|ls|inspect|rm`: named networks (src/net). */
export function define(program: Command): void {
  const cmd = program.command('network').description('manage named container networks (bridge, subnet, published ports)');

  cmd
    .command('create <name>')
    .description('create a network: dual stack (an IPv4 subnet of the pool, an IPv6 /64 of the host\'s ULA prefix) unless told otherwise')
    .option('--subnet <cidr>', 'IPv4 or IPv6 subnet, e.g. 10.88.0.0/24 or fd00:88::/64 (repeatable: one of each)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--ipv6 [bool]', 'IPv6 on this network: true (default where the host runs IPv6) or false for IPv4 only')
    .action(async (name: string, opts: { subnet?: string[]; ipv6?: string | boolean }) => {
      const { createNetwork, splitSubnets } = await import('../net/index.js');
      const { parseBool } = await import('../spec/index.js');
      const ipv6 = opts.ipv6 === undefined ? undefined : opts.ipv6 === true ? true : parseIpv6Flag(String(opts.ipv6), parseBool);
      const net = await createNetwork(name, { ...splitSubnets(opts.subnet ?? []), ...(ipv6 === undefined ? {} : { ipv6 }) });
      process.stdout.write(`${[net.name, net.subnet, ...(net.subnet6 !== undefined ? [net.subnet6] : []), net.bridge].join(' ')}\n`);
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
        ['NAME', 'SUBNET', 'IPV6 SUBNET', 'GATEWAY', 'BRIDGE', 'CONTAINERS', 'CREATED BY'],
        ...nets.map((n) => [n.name, n.subnet, n.subnet6 ?? '-', n.gateway, n.bridge, String(n.containers.length), n.auto ? 'first use' : 'network create']),
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
