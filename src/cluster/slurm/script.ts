import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerSpec } from '../../spec/index.js';
import { renderSpec } from '../../spec/index.js';
import { config, fillTemplate } from '../../util/index.js';
import type { RenderOptions } from '../backend.js';
import { checkCommon, nodeSpec, positiveCount, unsupported } from '../expressible.js';

/**
 * The sbatch script for one container spec (templates/slurm/job.sbatch): #SBATCH lines from the
 * spec's limits and the submit options, the normalized spec in a quoted heredoc, and a wrapper
 * that runs `vessel run --foreground` and turns the restart policy into `scontrol requeue`.
 * Pure apart from reading the template shipped with vessel.
 */
const MIB = 1024 * 1024;

/** POSIX sh single quotes: the one quoting that needs no escaping inside. */
export function shQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** sbatch's directives (the same flags on its command line); values are checked, never quoted. */
export function sbatchDirectives(spec: ContainerSpec, opts: RenderOptions): string[] {
  const count = positiveCount(opts.count);
  const d = [`--job-name=${spec.name}`, '--nodes=1', '--ntasks=1'];
  const { cpuPercent, memoryBytes } = spec.limits;
  // Slurm allocates whole CPUs; vessel still enforces the exact share inside the allocation.
  if (cpuPercent !== undefined) d.push(`--cpus-per-task=${Math.max(1, Math.ceil(cpuPercent / 100))}`);
  if (memoryBytes !== undefined) d.push(`--mem=${Math.max(1, Math.ceil(memoryBytes / MIB))}M`);
  if (count > 1) d.push(`--array=0-${count - 1}`);
  const features = [opts.os, opts.constraint].filter((x): x is string => x !== undefined && x !== '');
  if (features.length > 0) d.push(`--constraint=${features.length > 1 ? features.map((f) => `(${f})`).join('&') : features[0]}`);
  if (opts.partition) d.push(`--partition=${opts.partition}`);
  if (opts.timeLimit) d.push(`--time=${opts.timeLimit}`);
  if (opts.output) d.push(`--output=${opts.output}`);
  // --requeue lets Slurm put the job back after a node failure and lets the script requeue itself;
  // append keeps the output of earlier runs when it does.
  d.push('--requeue', '--open-mode=append', '--comment=vessel');
  for (const x of d) {
    // Directives are read by sbatch, not a shell: a space or newline would end or split one.
    if (/[\s#]/.test(x.slice(2))) throw unsupported('slurm', spec, x.split('=')[0]!, `${JSON.stringify(x)} may not contain spaces, # or newlines`);
  }
  return d;
}

function checkSlurm(spec: ContainerSpec, opts: RenderOptions): void {
  checkCommon('slurm', spec);
  if (spec.health !== undefined && spec.health.test?.kind !== 'none') {
    // Slurm has no health checks to act on one (`disable = true` asks for none: that it can do).
    throw unsupported('slurm', spec, '[health]', 'Slurm has no health checks to run it with');
  }
  if (opts.count > 1 && spec.network.publish.length > 0) {
    // Slurm knows nothing about ports: two array tasks on one node would fight for the host port.
    throw unsupported('slurm', spec, `[network] publish with --count ${opts.count}`,
      'Slurm does not allocate ports, so two instances placed on one node would publish the same host port',
      'submit one instance per spec, or leave out publish');
  }
}

/** INI has no multi-line values, so no spec line can be the delimiter today; kept safe regardless. */
export function heredocDelimiter(text: string): string {
  const lines = new Set(text.split('\n'));
  let delim = 'VESSEL_SPEC';
  for (let i = 2; lines.has(delim); i++) delim = `VESSEL_SPEC_${i}`;
  return delim;
}

let template: string | undefined;
function jobTemplate(): string {
  template ??= readFileSync(join(config().packageDir, 'templates', 'slurm', 'job.sbatch'), 'utf8');
  return template;
}

export function renderSbatchScript(spec: ContainerSpec, opts: RenderOptions): string {
  checkSlurm(spec, opts);
  const directives = sbatchDirectives(spec, opts);
  const text = renderSpec(nodeSpec(spec)).replace(/\n+$/, '');
  const r = spec.restart;
  const values: Record<string, string> = {
    SBATCH: directives.map((x) => `#SBATCH ${x}`).join('\n'),
    SOURCE: spec.source === undefined ? `the spec ${spec.name}` : spec.source.replace(/\n/g, ' '),
    VESSEL_BIN: shQuote(opts.vesselBin),
    RESTART_MODE: r.mode,
    MAX_RETRIES: r.mode === 'on-failure' && r.maxRetries !== undefined ? String(r.maxRetries) : "''",
    NAME: spec.name,
    EOF: heredocDelimiter(text),
    SPEC: text,
  };
  return fillTemplate(jobTemplate(), values, 'templates/slurm/job.sbatch');
}
