import type { ContainerSpec } from '../../spec/index.js';
import type { ClusterBackend, RenderOptions, StopOptions, SubmitOptions } from '../backend.js';
import { NomadClient, nomadConfigFromEnv, type NomadConfig } from './api.js';
import { renderNomadJob } from './job.js';
import { nomadStatus } from './status.js';
import { nomadStop } from './stop.js';
import { nomadSubmit } from './submit.js';

export { NomadClient, nomadConfigFromEnv, type NomadConfig } from './api.js';
export { nomadJob, renderNomadJob, nomadResources, portMappings, DEFAULT_MHZ_PER_CORE } from './job.js';
export { describePlacementFailure } from './submit.js';

/** The Nomad backend; one client per call, so a CLI process ends without open sockets. */
export function nomadBackend(config: NomadConfig = nomadConfigFromEnv()): ClusterBackend {
  const withClient = async <T>(fn: (c: NomadClient) => Promise<T>): Promise<T> => {
    const c = new NomadClient(config);
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  };
  return {
    name: 'nomad',
    render: (spec: ContainerSpec, opts: RenderOptions) => renderNomadJob(spec, opts),
    submit: (spec: ContainerSpec, opts: SubmitOptions) => withClient((c) => nomadSubmit(c, spec, opts)),
    status: (name: string) => withClient((c) => nomadStatus(c, name)),
    stop: (name: string, opts?: StopOptions) => withClient((c) => nomadStop(c, name, opts)),
  };
}
