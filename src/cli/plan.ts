import type { Command } from 'commander';
import { describeArgv, errorMessage, hostOs } from '../util/index.js';
import type { ContainerConfig, Driver, HostOs, Plan } from '../runtime/index.js';
import type { PlumbingPlan } from '../net/index.js';
import { fail } from './main.js';

/**
 * `vessel plan`: spec → ContainerConfig (supervise's planSpecConfig: the image must be in the
 * store, as for a start) → the driver's pure plan(). Nothing runs on the host.
 */
export interface PlanOutput {
  os: HostOs;
  spec: string;
  container: string;
  available: boolean;
  note?: string;
  plan?: Plan;
}

async function linuxDriver(): Promise<Driver | undefined> {
  try {
    const mod = (await import('../runtime/linux/index.js')) as { linuxDriver?: Driver };
    return mod.linuxDriver;
  } catch {
    return undefined;
  }
}

export async function planSpec(specPath: string, os: HostOs): Promise<PlanOutput> {
  const { parseSpecFile } = await import('../spec/index.js');
  const spec = await parseSpecFile(specPath);
  const out: PlanOutput = { os, spec: specPath, container: spec.name, available: true };
  // The same facts and the same pure function a start uses (supervise/config.ts): the plan of
  // another OS is drawn with that OS's rules (VESSEL_OS is what hostOs() reads).
  const saved = process.env.VESSEL_OS;
  process.env.VESSEL_OS = os;
  let cfg: ContainerConfig;
  let plumbing: PlumbingPlan;
  try {
    const { planSpecConfig } = await import('../supervise/index.js');
    const planned = await planSpecConfig(spec);
    cfg = planned.cfg;
    // The network's host commands (Linux: ip batches, the nft table); FreeBSD's are in the jail's plan.
    plumbing = await (await import('../net/index.js')).planPlumbing(spec, spec.name, planned.attachment);
  } finally {
    if (saved === undefined) delete process.env.VESSEL_OS;
    else process.env.VESSEL_OS = saved;
  }
  const driver = os === 'freebsd' ? new (await import('../runtime/freebsd/index.js')).FreeBSDDriver() : await linuxDriver();
  if (driver === undefined) return { ...out, available: false, note: 'the Linux driver is not available in this build' };
  try {
    const p = driver.plan(cfg);
    // The check is the monitor's to run (docs/health.md), so no driver step shows it: the plan does.
    const { describeHealth } = await import('../supervise/index.js');
    const health = cfg.health === undefined ? [] : [{ path: 'health check (run by the container\'s monitor)', content: describeHealth(cfg.health) }];
    out.plan = { ...p, files: [...p.files, ...plumbing.files, ...health], commands: [...p.commands, ...plumbing.commands] };
  } catch (e) {
    if (os === 'linux') return { ...out, available: false, note: `the Linux driver cannot plan without a start: ${errorMessage(e)}` };
    throw e;
  }
  return out;
}

export function formatPlan(p: PlanOutput): string {
  const lines = [`# vessel plan ${p.spec}: container ${p.container} on ${p.os}. Nothing was run.`];
  if (!p.available || !p.plan) {
    lines.push(`# not available: ${p.note ?? ''}`);
    return lines.join('\n') + '\n';
  }
  lines.push('# <…> are values known only at start (interface numbers, current host settings).', '');
  for (const f of p.plan.files) {
    lines.push(`==> ${f.path} <==`, f.content.replace(/\n$/, ''), '');
  }
  lines.push('==> commands, in order <==');
  for (const c of p.plan.commands) {
    // A trailing "# …" element is the plan's note on a conditional step, not an argument.
    const note = c.length > 0 && c[c.length - 1]!.startsWith('# ') ? c[c.length - 1] : undefined;
    lines.push(note === undefined ? describeArgv(c) : `${describeArgv(c.slice(0, -1))}   ${note}`);
  }
  return lines.join('\n') + '\n';
}


export function define(program: Command): void {
  program
    .command('plan')
    .description('print, without running anything, the files and the exact commands that would start the container of SPEC')
    .argument('<spec>', 'container spec file (INI)')
    .option('--os <os>', 'freebsd or linux (default: this host)')
    .option('--json', 'machine-readable output')
    .action(async (specPath: string, opts: { os?: string; json?: boolean }) => {
      // Without --os: this host, by the one hostOs() (a plan for another OS works from any host).
      const os = opts.os ?? hostOs();
      if (os !== 'freebsd' && os !== 'linux') fail(`--os ${JSON.stringify(os)}: expected freebsd or linux`);
      const plan = await planSpec(specPath, os);
      process.stdout.write(opts.json ? JSON.stringify(plan, null, 2) + '\n' : formatPlan(plan));
    });
}
