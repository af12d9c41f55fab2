import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { host, run, type SpawnedProcess } from '../../util/index.js';
import type { ContainerConfig, HostOs, RuntimeNetwork } from '../../runtime/index.js';
import { ContractFailure, check, type CaseNeeds, type ContractCase } from '../contract.js';
import { PROBE_MOUNT, expectExit, expectLine, hostProbe, logOf, probeArgv, waitForLine, withProbe, withRunning } from '../probe.js';

/**
 * A bridged network: the container gets the address leased to it, reaches the host at the
 * network's gateway (a listener the probe runs on the host, bound to the gateway address), and a
 * port it publishes answers a connection from the host.
 */

const SERVE_PORT = 8080;

type Bridged = Extract<RuntimeNetwork, { mode: 'bridge' }>;

function bridged(cfg: ContainerConfig): Bridged {
  if (cfg.network.mode !== 'bridge') throw new ContractFailure(`container ${cfg.name} has no bridged network (mode ${cfg.network.mode})`);
  return cfg.network;
}

const bare = (cidr: string): string => cidr.split('/')[0]!;

/** What each OS needs for a container on a bridge: nftables; VNET jails (an epair on the bridge). */
const bridgeNeeds = (os: HostOs): string[] => (os === 'linux' ? ['nftables'] : ['vimage']);

/** The host's probe listening on ADDR (any free port), reporting to OUT; resolves with the port once it listens. */
async function hostListener(argv: string[], out: string): Promise<{ port: number; proc: SpawnedProcess }> {
  rmSync(out, { force: true });
  mkdirSync(dirname(out), { recursive: true });
  // stdin a pipe we hold: the listener gives up when this process is gone (even SIGKILLed)
  const proc = host().spawn(argv, { stdio: ['pipe', 'ignore', 'inherit'] });
  try {
    const line = await waitForLine(out, /^listening \d+$/, 'the host\'s listener', proc.exited);
    return { port: Number(line.split(' ')[1]), proc };
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
}

export const NETWORK_CASES: readonly ContractCase[] = [
  {
    id: 'network',
    feature: 'bridged network: the container\'s address, and the host at the gateway',
    title: 'on a bridged network the container has the address leased to it and reaches a listener on the host at the gateway address',
    needs: (os): CaseNeeds => ({ checks: bridgeNeeds(os) }),
    network: { publish: [] },
    // the probe's steps are set once the host listens (its port is known then): run() below
    configure: (base, h) => ({ ...withProbe(base, h, [['addrs'], ['exit', '0']]), user: 'root' }),
    async run(h, cfg0) {
      const n = bridged(cfg0);
      const out = join(cfg0.dir, 'host-listener.txt');
      const { port, proc } = await hostListener(hostProbe(h, [['listen', n.gateway, '0']], out), out);
      try {
        const cfg = { ...cfg0, argv: probeArgv(PROBE_MOUNT, [['addrs'], ['connect', n.gateway, String(port)], ['exit', '0']]) };
        const log = logOf(cfg);
        await withRunning(h, cfg, async (r) => {
          expectExit(await r.exit(), { code: 0 }, 'the network probe');
          expectLine(log, new RegExp(`^addr \\S+ ${n.address.replace(/\./g, '\\.')}$`), `the leased address ${n.address}`);
          expectLine(log, `connect ${n.gateway} ${port} ok hello from the host`, `a connection to the host at the gateway ${n.gateway}`);
        });
        await waitForLine(out, /^accepted /, 'the host\'s listener', proc.exited);
        expectLine(out, `accepted ${bare(n.address)} hello from ${cfg.hostname}`, 'the host saw the container\'s own address');
      } finally {
        proc.kill('SIGKILL');
        await proc.exited;
      }
    },
  },
  {
    id: 'publish',
    feature: 'bridged network: a published port answers from the host',
    title: `a port the container publishes (${SERVE_PORT} on a free host port) answers a connection from the host`,
    needs: (os): CaseNeeds => ({ checks: os === 'linux' ? bridgeNeeds(os) : [...bridgeNeeds(os), 'pf', 'pf-anchors', 'pf-filter-local'] }),
    network: { publish: [{ hostPort: 0, containerPort: SERVE_PORT, protocol: 'tcp' }] },
    configure: (base, h) => ({ ...withProbe(base, h, [['serve', String(SERVE_PORT)]]), user: 'root' }),
    async run(h, cfg) {
      const n = bridged(cfg);
      const published = n.publish.find((p) => p.containerPort === SERVE_PORT);
      check(published !== undefined && published.hostPort > 0, `port ${SERVE_PORT} was not given a host port`);
      const address = await h.network!.publishAddress();
      await withRunning(h, cfg, async (r) => {
        await waitForLine(logOf(cfg), new RegExp(`^serving ${SERVE_PORT}$`), 'the container\'s server', r.started.exited);
        const res = await run(hostProbe(h, [['connect', address, String(published!.hostPort)]]), { allowFailure: true });
        const line = res.stdout.trim();
        check(new RegExp(`^connect \\S+ \\d+ ok selftest ${cfg.hostname} hello from `).test(line), `${address}:${published!.hostPort} from the host: ${line || res.stderr.trim() || `exit ${res.exitCode}`}`);
      });
    },
  },
];
