import { VesselError } from '../util/index.js';
import { BACKENDS, type BackendName, type ClusterBackend } from './backend.js';
import { nomadBackend } from './nomad/index.js';
import { slurmBackend } from './slurm/index.js';

export * from './backend.js';
export { nomadBackend, NomadClient, nomadConfigFromEnv, renderNomadJob, type NomadConfig } from './nomad/index.js';
export { slurmBackend, renderSbatchScript } from './slurm/index.js';
export { recordSubmission, readSubmission, type SubmissionRecord } from './record.js';

export function parseBackendName(text: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(text)) return text as BackendName;
  throw new VesselError('E_USAGE', `--backend ${text}: expected ${BACKENDS.join(' or ')}`);
}

export function backend(name: BackendName): ClusterBackend {
  return name === 'nomad' ? nomadBackend() : slurmBackend();
}
