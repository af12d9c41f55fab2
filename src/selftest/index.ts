/** `vessel selftest`: the driver contract against the live host, one named container per case. */
export { LINUX_DISCOVERABLE, FREEBSD_DISCOVERABLE, FREEBSD_NO_VIMAGE_DISCOVERABLE, ContractFailure, countHostCommands, type ContractCase, type ContractHost, type CaseNetwork, type CaseAttachment, type CaseNeeds } from './contract.js';
export { CONTRACT_CASES } from './cases.js';
export { runCase, skipReason, type CaseOutcome, type CaseStatus } from './harness.js';
export { PROBE_MOUNT, PROBE_BINARY } from './probe.js';
export { runSelftest, interruptCleanup, probeDir, selftestNetwork, SELFTEST_PREFIX, SELFTEST_NETWORK, type CaseResult, type SelftestOptions, type SelftestRun } from './run.js';
export { renderSelftestReport, renderCaseLine } from './report.js';
