import type { ContainerSpec } from '../spec/index.js';
import { VesselError } from '../util/index.js';
import type { BackendName } from './backend.js';

/**
 * Parts of a spec an engine cannot carry are refused before anything is submitted: a job that
 * silently dropped a limit or an address would run, but not as the spec says.
 */
const ENGINE: Record<BackendName, string> = { nomad: 'Nomad', slurm: 'Slurm' };

export function unsupported(backend: BackendName, spec: ContainerSpec, what: string, reason: string, hint?: string): VesselError {
  return new VesselError('E_UNSUPPORTED', `${spec.source ?? spec.name}: ${what}: ${reason}`, {
    hint: hint ?? `remove it from the spec to run ${spec.name} under ${ENGINE[backend]}`,
  });
}

/** Checks shared by every backend: what no batch or service engine can give a container. */
export function checkCommon(backend: BackendName, spec: ContainerSpec): void {
  const engine = ENGINE[backend];
  if (spec.tty || spec.interactive) {
    throw unsupported(backend, spec, '[container] tty/interactive', `${engine} runs jobs without a terminal or stdin`);
  }
  if (spec.dependsOn !== undefined && spec.dependsOn.length > 0) {
    throw unsupported(backend, spec, `[container] depends_on ${spec.dependsOn.map((d) => d.name).join(', ')}`,
      `${engine} places each submitted spec as a job of its own and cannot hold one back until another job's container is started or healthy`,
      `submit the dependencies first and remove depends_on, or run the set on one host with vessel up`);
  }
  if (spec.parent !== undefined) {
    throw unsupported(backend, spec, `parent = ${spec.parent}`,
      `${engine} cannot place a child jail inside a parent that lives on one particular node`);
  }
  const l = spec.limits;
  const noField = (key: string): VesselError =>
    unsupported(backend, spec, `[limits] ${key}`, `${engine} has no resource for it, so it could neither place nor account for the job by it`);
  if (l.vmemoryBytes !== undefined) throw noField('vmemory');
  if (l.openfiles !== undefined) throw noField('openfiles');
  if (l.maxproc !== undefined) throw noField('maxproc');
  for (const p of spec.network.publish) {
    if (p.hostIp !== undefined) {
      throw unsupported(backend, spec, `[network] publish ${p.hostIp}:${p.hostPort}:${p.containerPort}`,
        `the host address is not known before ${engine} picks a node`, 'publish on every address (HOST:CONTAINER)');
    }
  }
}

/** The spec as the node's `vessel run --foreground` gets it: the engine owns restarts, not the node. */
export function nodeSpec(spec: ContainerSpec, changes: Partial<ContainerSpec> = {}): ContainerSpec {
  return { ...spec, restart: { mode: 'no' }, ...changes };
}

export function positiveCount(count: number): number {
  if (!Number.isInteger(count) || count < 1) {
    throw new VesselError('E_USAGE', `--count ${count}: expected a whole number of instances ≥ 1`);
  }
  return count;
}
