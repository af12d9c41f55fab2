import { join } from 'node:path';
import { writeJsonAtomic, readJsonFile, config, VesselError } from '../util/index.js';
import { BACKENDS, type BackendName } from './backend.js';

/**
 * Which engine a name was handed to, so `cluster status NAME` and `cluster stop NAME` need no
 * --backend. Kept under $VESSEL_ROOT/cluster/ on the submitting host (also after a stop, so status
 * still answers); the engine stays the truth about the job itself.
 */
export interface SubmissionRecord {
  backend: BackendName;
  name: string;
  jobId: string;
  submittedAt: string;
}

function recordPath(name: string): string {
  return join(config().root, 'cluster', `${name}.json`);
}

export function recordSubmission(r: SubmissionRecord): void {
  writeJsonAtomic(recordPath(r.name), r);
}

export async function readSubmission(name: string): Promise<SubmissionRecord | undefined> {
  const path = recordPath(name);
  const r = await readJsonFile<SubmissionRecord>(path);
  if (r !== undefined && !(BACKENDS as readonly string[]).includes(r.backend)) {
    throw new VesselError('E_STATE', `${path}: backend ${JSON.stringify(r.backend)} is not ${BACKENDS.join(' or ')}`);
  }
  return r;
}
