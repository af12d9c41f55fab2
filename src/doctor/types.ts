import type { OsName } from '../util/index.js';

/**
 * One feature of vessel and whether this host can run it. `ok`: yes; `missing`: no, and `fix`
 * says what to do; `warn`: it runs, with a limit the user should know (`fix` says how to lift it);
 * `info`: a fact for a bug report, nothing to do.
 */
export type CheckStatus = 'ok' | 'warn' | 'missing' | 'info';

export interface Check {
  /** Stable id for scripts (--json). */
  id: string;
  /** What a user reads: the feature. */
  feature: string;
  status: CheckStatus;
  /** What was found, in one line. */
  detail: string;
  /** What to do, when status is warn or missing. */
  fix?: string;
}

export interface DoctorReport {
  os: OsName;
  checks: Check[];
}
