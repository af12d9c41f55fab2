import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * A real Slurm cluster on this machine, private to one test file (Debian's slurmctld, slurmd,
 * slurm-client and munge): munged with its own key and socket, slurmctld on the host side of a
 * private bridge, and N slurmd "hosts", each in a network namespace of its own on that bridge
 * (started with `nsenter --net=…`, see /work/shared/docs/linux-host.md). Everything lives in one
 * temporary directory and a private slurm.conf that clients find through SLURM_CONF.
 * stop() kills every job process and daemon it started, deletes the namespaces and the bridge.
 */

export interface SlurmNode {
  name: string;
  netns: string;
  address: string;
  process: ChildProcess;
}

export interface SlurmCluster {
  dir: string;
  conf: string;
  /** Environment for Slurm clients (sbatch, squeue, vessel cluster …). */
  env: Record<string, string>;
  nodes: SlurmNode[];
  /** Text of a daemon's log, for failure messages. */
  log(which: 'slurmctld' | string): string;
  stop(): Promise<void>;
}

export interface SlurmClusterOptions {
  nodes?: number;
  /** CPUs each node announces (config_overrides: no hardware check). */
  cpus?: number;
  memoryMB?: number;
  /** Seconds between SIGTERM and SIGKILL when a job is cancelled. */
  killWait?: number;
}

const SBIN_MISSING = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sacct', 'scontrol', 'nsenter', 'ip'];

/** Names of the programs this helper needs that are not installed. */
export function missingSlurmPrograms(): string[] {
  return SBIN_MISSING.filter((p) => {
    try {
      execFileSync('sh', ['-c', `command -v ${p}`], { stdio: 'ignore', env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
      return false;
    } catch {
      return true;
    }
  });
}

function sh(argv: string[], opts: { input?: string; allowFailure?: boolean } = {}): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    if (opts.allowFailure) return '';
    const err = e as { stderr?: Buffer };
    throw new Error(`${argv.join(' ')}: ${err.stderr?.toString().trim() ?? String(e)}`);
  }
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function waitFor(what: string, fn: () => boolean, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`slurm test cluster: timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A /24 in 10.231.0.0/16 no interface of this host uses yet. */
function freeSubnet(): string {
  const used = sh(['ip', '-4', '-o', 'addr']);
  for (let i = 0; i < 50; i++) {
    const third = randomBytes(1)[0]!;
    const net = `10.231.${third}`;
    if (!used.includes(`${net}.`)) return net;
  }
  throw new Error('slurm test cluster: no free 10.231.x.0/24');
}

function daemon(argv: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}

function killAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => {
      try { child.kill('SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    try { child.kill(signal); } catch { res(); }
  });
}

/** Pids of every process in a network namespace (job scripts, vessel, containers' inits). */
export function netnsPids(netns: string): number[] {
  return sh(['ip', 'netns', 'pids', netns], { allowFailure: true }).split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
}

export async function startSlurmCluster(opts: SlurmClusterOptions = {}): Promise<SlurmCluster> {
  const count = opts.nodes ?? 2;
  const tag = randomBytes(3).toString('hex');
  const dir = mkdtempSync('/tmp/vessel-slurm-');
  // munged insists that every directory up to its socket be reachable by all.
  chmodSync(dir, 0o755);
  const bridge = `slmbr${tag}`; // ≤ 15 characters; not vsl…, the prefix of vessel's own networks
  const net = freeSubnet();
  const host = hostname().split('.')[0]!;
  const nodes: SlurmNode[] = [];
  let munged: ChildProcess | undefined;
  let ctld: ChildProcess | undefined;
  const created = { bridge: false, netns: [] as string[] };
  const logPath = (which: string) => join(dir, 'log', `${which}.log`);
  const log = (which: string) => (existsSync(logPath(which)) ? readFileSync(logPath(which), 'utf8') : '');
  const tails = () => ['slurmctld', ...Array.from({ length: count }, (_, i) => `slurmd-node${i + 1}`), 'munged']
    .map((w) => `--- ${w}\n${log(w).split('\n').slice(-15).join('\n')}`).join('\n');

  const stop = async () => {
    // Job processes first (vessel and its containers), so nothing outlives the daemons.
    for (const ns of created.netns) for (const pid of netnsPids(ns)) {
      if (nodes.some((n) => n.process.pid === pid)) continue;
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    for (const n of nodes) await killAndWait(n.process);
    await killAndWait(ctld);
    await killAndWait(munged);
    for (const ns of created.netns) {
      for (const pid of netnsPids(ns)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      sh(['ip', 'netns', 'del', ns], { allowFailure: true });
    }
    if (created.bridge) sh(['ip', 'link', 'del', bridge], { allowFailure: true });
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const d of ['munge', 'state', 'spool', 'log', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
    chmodSync(join(dir, 'munge'), 0o755);
    writeFileSync(join(dir, 'munge', 'munge.key'), randomBytes(1024), { mode: 0o400 });
    const socket = join(dir, 'munge', 'munge.socket');
    // -F: a child of ours, killed by pid; -f: it runs as root, which munged otherwise refuses.
    munged = daemon(['munged', '-F', '-f', `--socket=${socket}`, `--key-file=${join(dir, 'munge', 'munge.key')}`,
      `--log-file=${logPath('munged')}`, `--pid-file=${join(dir, 'munge', 'munged.pid')}`, `--seed-file=${join(dir, 'munge', 'munged.seed')}`], logPath('munged'));
    await waitFor('munged socket', () => existsSync(socket), 10_000, tails);

    sh(['ip', 'link', 'add', bridge, 'type', 'bridge']);
    created.bridge = true;
    sh(['ip', 'addr', 'add', `${net}.1/24`, 'dev', bridge]);
    sh(['ip', 'link', 'set', bridge, 'up']);
    for (let i = 1; i <= count; i++) {
      const ns = `vessel-slurm-${tag}-n${i}`;
      const veth = `slm${tag}n${i}`;
      sh(['ip', 'netns', 'add', ns]);
      created.netns.push(ns);
      sh(['ip', '-batch', '-'], { input: `link add ${veth} type veth peer name eth0 netns ${ns}\nlink set ${veth} master ${bridge} up\n` });
      sh(['ip', '-n', ns, '-batch', '-'], { input: `addr add ${net}.${i + 1}/24 dev eth0\nlink set eth0 up\nlink set lo up\n` });
    }

    const ctldPort = await freePort();
    const cpus = opts.cpus ?? 2;
    const mem = opts.memoryMB ?? 1000;
    const conf = join(dir, 'slurm.conf');
    writeFileSync(conf, [
      '# vessel test cluster: private daemons, state and logs under this directory',
      `ClusterName=vessel${tag}`,
      `SlurmctldHost=${host}(${net}.1)`,
      `SlurmctldPort=${ctldPort}`,
      'SlurmdPort=6818',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      // cred_expire also sets how long a requeued job waits before it may start again (default 120 s)
      `AuthInfo=socket=${socket},cred_expire=5`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}/%n`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'spool')}/slurmd-%n.pid`,
      `SlurmctldLogFile=${logPath('slurmctld')}`,
      `SlurmdLogFile=${join(dir, 'log')}/slurmd-%n.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/filetxt',
      `JobCompLoc=${join(dir, 'jobcomp.log')}`,
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core_Memory',
      'DefMemPerCPU=50',
      'SchedulerType=sched/backfill',
      'SchedulerParameters=sched_interval=2',
      'ReturnToService=2',
      'SlurmdParameters=config_overrides',
      'MpiDefault=none',
      `KillWait=${opts.killWait ?? 10}`,
      'MinJobAge=600',
      'SlurmctldTimeout=30',
      'SlurmdTimeout=30',
      'InactiveLimit=0',
      ...Array.from({ length: count }, (_, i) => `NodeName=node${i + 1} NodeAddr=${net}.${i + 2} CPUs=${cpus} RealMemory=${mem} State=UNKNOWN`),
      `PartitionName=vessel Nodes=${Array.from({ length: count }, (_, i) => `node${i + 1}`).join(',')} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'));
    const env = { SLURM_CONF: conf };
    for (let i = 1; i <= count; i++) mkdirSync(join(dir, 'spool', `node${i}`), { recursive: true });

    // -D: in the foreground, our child; -i: ignore state a previous run may have left.
    ctld = daemon(['env', `SLURM_CONF=${conf}`, 'slurmctld', '-D', '-i'], logPath('slurmctld-stdout'));
    for (let i = 1; i <= count; i++) {
      const ns = created.netns[i - 1]!;
      const p = daemon(['nsenter', `--net=/run/netns/${ns}`, 'env', `SLURM_CONF=${conf}`, 'slurmd', '-D', '-N', `node${i}`], logPath(`slurmd-node${i}-stdout`));
      nodes.push({ name: `node${i}`, netns: ns, address: `${net}.${i + 1}`, process: p });
    }
    await waitFor('every node idle', () => {
      const out = sh(['env', `SLURM_CONF=${conf}`, 'sinfo', '-h', '-N', '-o', '%N %t'], { allowFailure: true });
      const idle = out.split('\n').filter((l) => / idle$/.test(l.trim())).length;
      return idle === count;
    }, 30_000, tails);
    return { dir, conf, env, nodes, log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
