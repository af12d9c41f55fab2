import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { VesselError, config, serviceSocket } from '../util/index.js';
import type { ContainerSpec, RunFlags } from '../spec/index.js';
import type { RunCliOptions } from './run.js';
import { processIo, type CliIo } from './io.js';

function flagsOf(o: RunCliOptions): Partial<RunFlags> {
  const f: Partial<RunFlags> = {};
  const set = <K extends keyof RunFlags>(k: K, v: RunFlags[K] | undefined) => {
    if (v !== undefined) f[k] = v;
  };
  set('name', o.name);
  set('volume', o.volume);
  set('tmpfs', o.tmpfs);
  set('env', o.env);
  set('workdir', o.workdir);
  set('user', o.user);
  set('hostname', o.hostname);
  set('memory', o.memory);
  set('pids', o.pids);
  set('cpus', o.cpus);
  set('restart', o.restart);
  set('network', o.network);
  set('publish', o.publish);
  set('stopTimeout', o.stopTimeout);
  set('stopSignal', o.stopSignal);
  set('wait', o.wait);
  set('entrypoint', o.entrypoint);
  set('healthCmd', o.healthCmd);
  set('healthInterval', o.healthInterval);
  set('healthTimeout', o.healthTimeout);
  set('healthRetries', o.healthRetries);
  set('healthStartPeriod', o.healthStartPeriod);
  if (o.healthcheck === false) f.noHealthcheck = true;
  if (o.tty) f.tty = true;
  if (o.interactive) f.interactive = true;
  return f;
}

/** Instance name of a cluster task: one per allocation/job, so a rescheduled task finds its own leftovers. */
function clusterInstance(name: string, env: CliIo['env']): string {
  const alloc = env.NOMAD_ALLOC_ID;
  const job = env.SLURM_JOB_ID;
  const suffix = alloc ? alloc.replace(/-/g, '').slice(0, 12) : job ? job : undefined;
  return suffix ? `${name.slice(0, 63 - suffix.length - 1)}-${suffix}` : name;
}

async function buildSpec(image: string | undefined, command: string[], o: RunCliOptions, io: CliIo): Promise<ContainerSpec> {
  const spec = await import('../spec/index.js');
  const specFile = o.spec ?? (o.foreground ? image : undefined);
  if (o.foreground && !specFile) throw new VesselError('E_USAGE', 'run --foreground: a spec file is required', { hint: 'vessel run --foreground web.ini' });
  if (specFile) {
    const base = await spec.parseSpecFile(resolve(io.cwd, specFile));
    const extra = { ...flagsOf(o), cwd: io.cwd, environ: io.env };
    if (!o.foreground && command.length) extra.command = command;
    let s = spec.mergeFlags(base, extra);
    if (o.foreground && !o.name) s = { ...s, name: clusterInstance(s.name, io.env) };
    if (s.dependsOn !== undefined && s.dependsOn.length > 0) {
      // One container alone has no set to order: say so rather than start it as if they were met.
      io.err(`vessel: ${s.source ?? specFile}: depends_on (${s.dependsOn.map(spec.formatDependency).join(', ')}) is ignored by vessel run; only vessel up (and vessel compose up) start a set of specs in order\n`);
    }
    return s;
  }
  if (!image) throw new VesselError('E_USAGE', 'run: an image is required', { hint: 'vessel run [OPTIONS] IMAGE [COMMAND…]' });
  const flags = { ...flagsOf(o), cwd: io.cwd, environ: io.env };
  if (o.publishAll) flags.publish = [...(flags.publish ?? []), ...(await publishExposed(image))];
  return spec.specFromFlags({ ...flags, image, command });
}

/**
 * -P: every port the image exposes ("80/tcp"), each on a free host port that net/ chooses at start
 * under the networks lock and records in the lease (`vessel port NAME`).
 */
async function publishExposed(image: string): Promise<string[]> {
  const { resolveImage } = await import('../image/index.js');
  const exposed = (await resolveImage(image)).record.config.exposedPorts ?? [];
  return exposed.map((e) => {
    const [port, proto = 'tcp'] = e.split('/');
    return `${port}/${proto === 'udp' ? 'udp' : 'tcp'}`;
  });
}

/** The spec `vessel run` asks for, once its name is known to be free. */
export async function runSpec(image: string | undefined, command: string[], o: RunCliOptions, io: CliIo): Promise<ContainerSpec> {
  // Load what the start will need while the spec is parsed: chunk loads overlap instead of queueing.
  const preload = Promise.all([import('../supervise/index.js'), import('../runtime/index.js').then((r) => r.driverFor())]);
  preload.catch(() => undefined);
  const spec = await buildSpec(image, command, o, io);
  await preload;
  const { readState, isLive } = await import('../supervise/index.js');
  const prev = await readState(spec.name);
  if (prev) {
    if (isLive(prev)) throw new VesselError('E_EXISTS', `container ${spec.name} is already running`, { hint: `vessel stop ${spec.name}` });
    // a cluster task re-run by its engine, or a restart of our own: reuse the name
    if (!o.foreground) throw new VesselError('E_EXISTS', `container name ${spec.name} is already in use by a stopped container`, { hint: `vessel rm ${spec.name}` });
  }
  return spec;
}

export async function runCommand(image: string | undefined, command: string[], o: RunCliOptions, io: CliIo = processIo()): Promise<number> {
  const spec = await runSpec(image, command, o, io);
  if (o.detach) return runDetached(spec, o, io);
  return runForeground(spec, o);
}

async function runForeground(spec: ContainerSpec, o: RunCliOptions): Promise<number> {
  const { Supervisor, exitNote } = await import('../supervise/index.js');
  const sup = new Supervisor(spec, {
    mode: 'foreground',
    autoRemove: o.rm ?? false,
    output: { kind: 'inherit' },
    // a cluster task stops and cleans up on SIGTERM; an interactive run forwards it (docker's sig-proxy)
    ...(o.foreground ? { monitor: { signalsStop: true } } : {}),
  });
  // The monitor has its own session: signals of our terminal reach us, and we hand them on.
  const onSignal = (sig: NodeJS.Signals) => {
    const m = sup.monitorPid;
    if (m !== undefined) try { process.kill(m, sig); } catch { /* gone */ }
    else void sup.stop().catch(() => undefined);
  };
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGWINCH'];
  for (const s of sigs) process.on(s, onSignal);
  try {
    await sup.start();
    const st = await sup.wait();
    // say why when vessel knows more than the number: OOM, or a command that could not start
    const note = exitNote(spec.name, st);
    if (note !== undefined) process.stderr.write(`vessel: ${note}\n`);
    return st.code;
  } finally {
    for (const s of sigs) process.off(s, onSignal);
  }
}

/**
 * Detached: prepared here, then the container's native monitor runs it in its own session and
 * applies its restart policy with docker's back-off; this process ends once the command runs.
 * Nothing of Node stays behind: at the end of the container's life the monitor asks `vessel up`
 * (if it runs) or one `vessel _release NAME` to release what TypeScript created.
 */
export async function runDetached(spec: ContainerSpec, o: RunCliOptions, io: CliIo): Promise<number> {
  if (spec.tty || spec.interactive) throw new VesselError('E_USAGE', '-d cannot be combined with -t or -i', { hint: 'use vessel exec -t -i NAME sh to get a shell in a detached container' });
  const { Supervisor } = await import('../supervise/index.js');
  const sup = new Supervisor(spec, {
    mode: 'detached',
    detached: true,
    autoRemove: o.rm ?? false,
    monitor: { service: serviceSocket(config()), releaseArgv: releaseArgv(spec.name) },
  });
  await sup.start();
  io.out(`${spec.name}\n`);
  return 0;
}

/** What a monitor runs at its end to release what TypeScript created when vessel up is not there. */
export function releaseArgv(name: string): string[] {
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'vessel.js'), '_release', name];
}
