import type { Command } from 'commander';
import type { BackendName, ClusterBackend, InstanceStatus, JobStatus, NodeOs, SubmitOptions } from '../cluster/index.js';
import { formatTable } from '../util/index.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface SubmitCliOptions {
  backend: string;
  count: string;
  dryRun?: boolean;
  vesselBin: string;
  os?: string;
  datacenter?: string[];
  mhzPerCore?: string;
  constraint?: string;
  partition?: string;
  time?: string;
  output?: string;
  wait: string;
  json?: boolean;
}

async function usage(message: string, hint?: string): Promise<never> {
  const { VesselError } = await import('../util/index.js');
  throw new VesselError('E_USAGE', message, hint === undefined ? {} : { hint });
}

async function numberFlag(flag: string, text: string, min: number): Promise<number> {
  if (!/^\d+$/.test(text) || Number(text) < min) return usage(`${flag} ${text}: expected a whole number ≥ ${min}`);
  return Number(text);
}

/** --backend, or the backend this name was submitted to from this host. */
async function backendFor(name: string, flag: string | undefined): Promise<ClusterBackend> {
  const cluster = await import('../cluster/index.js');
  if (flag !== undefined) return cluster.backend(cluster.parseBackendName(flag));
  const rec = await cluster.readSubmission(name);
  if (rec === undefined) {
    return usage(`cluster: ${name} was not submitted from this host`, 'name the engine with --backend nomad|slurm');
  }
  return cluster.backend(rec.backend);
}

function formatInstances(list: readonly InstanceStatus[]): string {
  if (list.length === 0) return '';
  const rows = [['INSTANCE', 'ID', 'NODE', 'STATE', 'EXIT', 'RESTARTS', 'DETAIL']];
  for (const i of list) {
    rows.push([i.instance, i.id, i.node ?? '-', i.state, i.exitCode === undefined ? '-' : String(i.exitCode), String(i.restarts), i.detail ?? '']);
  }
  return formatTable(rows);
}

function formatStatus(s: JobStatus): string {
  return `${s.name}: ${s.backend} job ${s.state}\n` + formatInstances(s.instances);
}

export function define(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('hand a container spec to a cluster engine (Nomad, Slurm) whose nodes run vessel');

  cluster
    .command('submit')
    .description('submit SPEC as a job: every instance runs `vessel run --foreground` on a node')
    .argument('<spec>', 'container spec file (INI)')
    .requiredOption('--backend <engine>', 'nomad | slurm')
    .option('--count <n>', 'instances to run (Nomad group count, Slurm array size)', '1')
    .option('--dry-run', 'print the Nomad job JSON / sbatch script and submit nothing')
    .option('--vessel-bin <path>', 'the vessel command on the nodes', 'vessel')
    .option('--os <os>', 'only nodes of this OS: freebsd | linux (Nomad: ${attr.kernel.name}; Slurm: a node feature)')
    .option('--datacenter <dc>', 'Nomad datacenter (repeatable; default: all)', collect)
    .option('--mhz-per-core <mhz>', 'Nomad: MHz one core of cpu = N% is worth (default 1000)')
    .option('--constraint <features>', 'Slurm: --constraint node features')
    .option('--partition <name>', 'Slurm partition')
    .option('--time <limit>', 'Slurm time limit, e.g. 1:00:00')
    .option('--output <pattern>', 'Slurm output file pattern, e.g. /var/log/vessel/%x-%j.out')
    .option('--wait <seconds>', 'wait this long for every instance to be placed and running (0: return at once)', '60')
    .option('--json', 'machine-readable output')
    .action(async (file: string, o: SubmitCliOptions) => {
      const { resolve } = await import('node:path');
      const { parseSpecFile } = await import('../spec/index.js');
      const c = await import('../cluster/index.js');
      const name: BackendName = c.parseBackendName(o.backend);
      if (o.os !== undefined && o.os !== 'freebsd' && o.os !== 'linux') await usage(`--os ${o.os}: expected freebsd or linux`);
      const opts: SubmitOptions = {
        count: await numberFlag('--count', o.count, 1),
        vesselBin: o.vesselBin,
        waitMs: (await numberFlag('--wait', o.wait, 0)) * 1000,
      };
      if (o.os !== undefined) opts.os = o.os as NodeOs;
      if (o.datacenter !== undefined) opts.datacenters = o.datacenter;
      if (o.mhzPerCore !== undefined) opts.mhzPerCore = await numberFlag('--mhz-per-core', o.mhzPerCore, 1);
      if (o.constraint !== undefined) opts.constraint = o.constraint;
      if (o.partition !== undefined) opts.partition = o.partition;
      if (o.time !== undefined) opts.timeLimit = o.time;
      if (o.output !== undefined) opts.output = o.output;
      const spec = await parseSpecFile(resolve(file));
      const b = c.backend(name);
      if (o.dryRun) {
        process.stdout.write(b.render(spec, opts));
        return;
      }
      const sub = await b.submit(spec, opts);
      c.recordSubmission({ backend: name, name: spec.name, jobId: sub.jobId, submittedAt: new Date().toISOString() });
      if (o.json) {
        process.stdout.write(JSON.stringify(sub, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${spec.name}: submitted to ${name} as job ${sub.jobId}${sub.evalId ? ` (evaluation ${sub.evalId})` : ''}\n`);
      process.stdout.write(formatInstances(sub.instances));
    });

  cluster
    .command('status')
    .description('the engine\'s view of a submitted container: instances, nodes, states, exit codes')
    .argument('<name>', 'the spec name it was submitted as')
    .option('--backend <engine>', 'nomad | slurm (default: the one it was submitted to from here)')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: { backend?: string; json?: boolean }) => {
      const s = await (await backendFor(name, o.backend)).status(name);
      process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
    });

  cluster
    .command('stop')
    .description('stop every instance (Nomad: DELETE the job; Slurm: scancel) and wait until the nodes are clean')
    .argument('<name>', 'the spec name it was submitted as')
    .option('--backend <engine>', 'nomad | slurm (default: the one it was submitted to from here)')
    .option('--wait <seconds>', 'wait this long for the instances to be gone', '120')
    .action(async (name: string, o: { backend?: string; wait: string }) => {
      const b = await backendFor(name, o.backend);
      const r = await b.stop(name, { waitMs: (await numberFlag('--wait', o.wait, 0)) * 1000 });
      process.stdout.write(`${name}: stopped ${r.stopped.length} instance${r.stopped.length === 1 ? '' : 's'} (${b.name})\n`);
    });
}
