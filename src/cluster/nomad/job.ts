import type { ContainerSpec, PortPublish } from '../../spec/index.js';
import { DEFAULTS, healthArgv, renderSpec } from '../../spec/index.js';
import type { NodeOs, RenderOptions } from '../backend.js';
import { checkCommon, nodeSpec, positiveCount, unsupported } from '../expressible.js';
import {
  SECOND,
  type NomadConstraint,
  type NomadJob,
  type NomadJobRegisterRequest,
  type NomadNetworkResource,
  type NomadReschedulePolicy,
  type NomadResources,
  type NomadRestartPolicy,
  type NomadService,
} from './types.js';

/**
 * A Nomad job for one container spec: a group of `count` allocations, each a raw_exec task
 * running `vessel run --foreground` on the spec, which a template block writes into the task's
 * local/ directory. Pure: the same spec and options give the same JSON, byte for byte.
 */

const MS = SECOND / 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const MIB = 1024 * 1024;
/** Nomad refuses a task asking for less memory than this (structs.Resources.Validate). */
const NOMAD_MIN_MEMORY_MB = 10;
export const DEFAULT_MHZ_PER_CORE = 1000;

/** Spec text may contain `{{`; delimiters it cannot contain keep consul-template from reading it. */
const LEFT_DELIM = '[[vessel:no-template:';
const RIGHT_DELIM = ':vessel:no-template]]';

/** sh -c SCRIPT VESSEL NAME CMD…: runs the health command in this allocation's container. */
const HEALTH_SCRIPT = 'bin=$0 name=$1; shift; exec "$bin" exec "$name-$(printf %s "$NOMAD_ALLOC_ID" | tr -d - | cut -c1-12)" "$@"';

export interface PortMapping {
  label: string;
  publish: PortPublish;
}

/** Port labels become env names (NOMAD_PORT_<label>): letters, digits and _ only. */
export function portMappings(publish: readonly PortPublish[]): PortMapping[] {
  const used = new Set<string>();
  return publish.map((p) => {
    const base = `${p.protocol}${p.containerPort}`;
    let label = base;
    for (let i = 2; used.has(label); i++) label = `${base}_${i}`;
    used.add(label);
    return { label, publish: p };
  });
}

function kernelConstraint(spec: ContainerSpec, os: NodeOs | undefined): NomadConstraint {
  // [jail] parameters only mean something to a FreeBSD node; otherwise either kernel runs vessel.
  const want = os ?? (Object.keys(spec.jail).length > 0 ? 'freebsd' : undefined);
  return want === undefined
    ? { LTarget: '${attr.kernel.name}', Operand: 'regexp', RTarget: '^(freebsd|linux)$' }
    : { LTarget: '${attr.kernel.name}', Operand: '=', RTarget: want };
}

/**
 * vessel's restart policy → Nomad's. `always` is a service (Nomad restarts it whatever the exit
 * code); the others are batch jobs, where exit 0 is done. Local restarts first, then a reschedule
 * onto another node, unless the spec caps the retries (then no reschedule adds tries).
 */
function restartPolicies(spec: ContainerSpec): { type: 'service' | 'batch'; restart: NomadRestartPolicy; reschedule: NomadReschedulePolicy } {
  const never: NomadReschedulePolicy = { Attempts: 0, Interval: 0, Unlimited: false };
  const forever: NomadReschedulePolicy = {
    Attempts: 0,
    Interval: 0,
    Delay: 30 * SECOND,
    DelayFunction: 'exponential',
    MaxDelay: HOUR,
    Unlimited: true,
  };
  const r = spec.restart;
  switch (r.mode) {
    case 'always':
      return { type: 'service', restart: { Attempts: 2, Interval: 30 * MINUTE, Delay: 15 * SECOND, Mode: 'fail' }, reschedule: forever };
    case 'on-failure':
      return r.maxRetries === undefined
        ? { type: 'batch', restart: { Attempts: 2, Interval: 30 * MINUTE, Delay: 15 * SECOND, Mode: 'fail' }, reschedule: forever }
        : { type: 'batch', restart: { Attempts: r.maxRetries, Interval: 24 * HOUR, Delay: 15 * SECOND, Mode: 'fail' }, reschedule: never };
    case 'no':
      return { type: 'batch', restart: { Attempts: 0, Interval: 24 * HOUR, Delay: 15 * SECOND, Mode: 'fail' }, reschedule: never };
  }
}

/** cpu = N% of one core → N/100 × mhzPerCore MHz; memory → MiB, rounded up. */
export function nomadResources(spec: ContainerSpec, mhzPerCore = DEFAULT_MHZ_PER_CORE): NomadResources {
  const out: NomadResources = {};
  const { cpuPercent, memoryBytes } = spec.limits;
  if (cpuPercent !== undefined) out.CPU = Math.max(1, Math.round((cpuPercent * mhzPerCore) / 100));
  if (memoryBytes !== undefined) out.MemoryMB = Math.max(NOMAD_MIN_MEMORY_MB, Math.ceil(memoryBytes / MIB));
  return out;
}

function checkNomad(spec: ContainerSpec, opts: RenderOptions): void {
  checkCommon('nomad', spec);
  if (opts.mhzPerCore !== undefined && (!Number.isFinite(opts.mhzPerCore) || opts.mhzPerCore <= 0)) {
    throw unsupported('nomad', spec, `--mhz-per-core ${opts.mhzPerCore}`, 'expected a positive number of MHz');
  }
}

export function nomadJob(spec: ContainerSpec, opts: RenderOptions): NomadJob {
  checkNomad(spec, opts);
  const count = positiveCount(opts.count);
  const ports = portMappings(spec.network.publish);
  // The host side of each published port is Nomad's to choose: it reaches vessel as NOMAD_PORT_<label>.
  const text = renderSpec(nodeSpec(spec, { network: { ...spec.network, publish: [] } }));
  if (text.includes(LEFT_DELIM)) {
    throw unsupported('nomad', spec, 'spec text', `contains ${LEFT_DELIM}, vessel's template delimiter`);
  }
  const file = `${spec.name}.ini`;
  const args = ['run', '--foreground'];
  for (const m of ports) args.push('-p', `\${NOMAD_PORT_${m.label}}:${m.publish.containerPort}/${m.publish.protocol}`);
  args.push(`\${NOMAD_TASK_DIR}/${file}`);

  const policies = restartPolicies(spec);
  const networks: NomadNetworkResource[] | undefined =
    ports.length === 0 ? undefined : [{ Mode: 'host', DynamicPorts: ports.map((m) => ({ Label: m.label })) }];

  let services: NomadService[] | undefined;
  const h = spec.health;
  if (h !== undefined && h.test?.kind !== 'none') {
    if (h.test === undefined) {
      throw unsupported('nomad', spec, '[health]', 'the check would come from the image\'s HEALTHCHECK, which the job is rendered without', 'write the check into the spec: [health] command = … (or shell = …)');
    }
    const d = DEFAULTS.health;
    const graceMs = Math.max(h.startPeriodMs ?? d.startPeriodMs, spec.minUptime * 1000, 1000);
    services = [{
      Name: spec.name,
      // Script checks run a command on the node; Nomad's own service provider has none, Consul does.
      Provider: 'consul',
      ...(ports[0] === undefined ? {} : { PortLabel: ports[0].label }),
      Checks: [{
        Name: `${spec.name}-health`,
        Type: 'script',
        // The container is named after the allocation the way `vessel run --foreground` names it
        // (see instanceName); Nomad's interpolation cannot strip dashes, a shell can.
        Command: '/bin/sh',
        Args: ['-c', HEALTH_SCRIPT, opts.vesselBin, spec.name.slice(0, 63 - 12 - 1), ...healthArgv(h.test)],
        Interval: (h.intervalMs ?? d.intervalMs) * MS,
        Timeout: (h.timeoutMs ?? d.timeoutMs) * MS,
        // on_unhealthy = none: Consul reports the check, Nomad restarts nothing.
        ...((h.onUnhealthy ?? d.onUnhealthy) === 'restart' ? { CheckRestart: { Limit: h.retries ?? d.retries, Grace: graceMs * MS } } : {}),
      }],
    }];
  }

  return {
    ID: spec.name,
    Name: spec.name,
    Type: policies.type,
    Datacenters: opts.datacenters ?? ['*'],
    Constraints: [kernelConstraint(spec, opts.os)],
    Meta: { 'vessel.spec': spec.name, 'vessel.image': spec.image },
    TaskGroups: [{
      Name: spec.name,
      Count: count,
      RestartPolicy: policies.restart,
      ReschedulePolicy: policies.reschedule,
      ...(networks === undefined ? {} : { Networks: networks }),
      Tasks: [{
        Name: spec.name,
        Driver: 'raw_exec',
        Config: { command: opts.vesselBin, args },
        Templates: [{
          DestPath: `local/${file}`,
          EmbeddedTmpl: text,
          ChangeMode: 'restart',
          Perms: '0600',
          LeftDelim: LEFT_DELIM,
          RightDelim: RIGHT_DELIM,
        }],
        Resources: nomadResources(spec, opts.mhzPerCore),
        // vessel stops the container itself on SIGTERM (stop signal, stop_timeout, then SIGKILL)
        // and then removes what it created: give it that long plus time to clean up.
        KillSignal: 'SIGTERM',
        KillTimeout: (spec.stopTimeout + 5) * SECOND,
        ...(services === undefined ? {} : { Services: services }),
      }],
    }],
  };
}

/** The body of `POST /v1/jobs`, as `vessel cluster submit --dry-run` prints it. */
export function renderNomadJob(spec: ContainerSpec, opts: RenderOptions): string {
  const body: NomadJobRegisterRequest = { Job: nomadJob(spec, opts) };
  return JSON.stringify(body, null, 2) + '\n';
}
