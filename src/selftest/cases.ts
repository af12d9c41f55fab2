import type { ContractCase } from './contract.js';
import { RECOVERY_CASES } from './cases/recovery.js';
import { LIFECYCLE_CASES } from './cases/lifecycle.js';
import { IDENTITY_CASES } from './cases/identity.js';
import { VOLUME_CASES } from './cases/volumes.js';
import { LIMIT_CASES } from './cases/limits.js';
import { NETWORK_CASES } from './cases/network.js';
import { EXEC_CASES } from './cases/exec.js';

/**
 * Every case of the driver contract, one feature each, in the order a report lists them: the
 * records first (a host that cannot clean up fails there, before anything else runs), then the
 * features a user of the host relies on.
 */
export const CONTRACT_CASES: readonly ContractCase[] = [
  ...RECOVERY_CASES,
  ...LIFECYCLE_CASES,
  ...IDENTITY_CASES,
  ...VOLUME_CASES,
  ...LIMIT_CASES,
  ...NETWORK_CASES,
  ...EXEC_CASES,
];
