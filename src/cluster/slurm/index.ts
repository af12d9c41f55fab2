import type { ClusterBackend } from '../backend.js';
import { renderSbatchScript } from './script.js';
import { slurmStatus } from './status.js';
import { slurmStop } from './stop.js';
import { slurmSubmit } from './submit.js';

export { renderSbatchScript, sbatchDirectives } from './script.js';
export { parseSqueueJson, parseSacct, waitStatusToExitCode, slurmStatus } from './status.js';

/** The Slurm backend: sbatch/squeue/sacct/scancel through util/host, configured by SLURM_CONF. */
export function slurmBackend(): ClusterBackend {
  return {
    name: 'slurm',
    render: renderSbatchScript,
    submit: slurmSubmit,
    status: (name) => slurmStatus(name),
    stop: slurmStop,
  };
}
