/** `vessel selftest`: the driver contract against the live host, one named container per case. */
export { CONTRACT_CASES, LINUX_DISCOVERABLE, FREEBSD_DISCOVERABLE, FREEBSD_NO_VIMAGE_DISCOVERABLE, ContractFailure, countHostCommands, type ContractCase, type ContractHost } from './cases.js';
export { runSelftest, interruptCleanup, SELFTEST_PREFIX, type CaseResult, type SelftestOptions, type SelftestRun } from './run.js';
export { renderSelftestReport, renderCaseLine } from './report.js';
