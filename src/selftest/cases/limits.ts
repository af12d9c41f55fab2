import type { HostOs } from '../../runtime/index.js';
import { check, type CaseNeeds, type ContractCase } from '../contract.js';
import { FORK_STEPS, MAXPROC, expectExit, expectForkLimit, expectLine, logOf, withProbe, withRunning } from '../probe.js';

/**
 * Resource limits, each as the OS enforces it: Linux's memory cgroup OOM-kills a container over
 * its memory limit and vessel reports the kill as such; FreeBSD's rctl(8) has no OOM kill (over
 * memoryuse the kernel reclaims the jail's pages) but refuses allocations over vmemoryuse; both
 * refuse a fork over the process limit (cgroup pids.max, rctl maxproc) with EAGAIN.
 */

const MIB = 1024 * 1024;
const MEMORY_MIB = 32;
const VMEMORY_MIB = 64;
/** Well over either limit: the probe touches every page, so the memory is resident. */
const ALLOC_MIB = 256;

/** Where a limit comes from: `vessel doctor`'s check of the host's limits. */
const limitsCheck = (os: HostOs): string => (os === 'linux' ? 'cgroups' : 'racct');

export const LIMIT_CASES: readonly ContractCase[] = [
  {
    id: 'memory',
    feature: 'memory limit: over it the command is OOM-killed and reported as such',
    title: `a command that touches ${ALLOC_MIB} MiB under memory = ${MEMORY_MIB}M is OOM-killed: 137, reported as out of memory`,
    needs: (os): CaseNeeds => (os === 'linux'
      ? { checks: [limitsCheck(os)] }
      : { notOnThisOs: 'rctl(8) has no OOM kill: over memoryuse the kernel reclaims the jail\'s pages and kills nothing (the vmemory case covers FreeBSD\'s memory limit)' }),
    configure: (base, h) => ({ ...withProbe(base, h, [['alloc', String(ALLOC_MIB)], ['exit', '0']]), limits: { memoryBytes: MEMORY_MIB * MIB } }),
    async run(h, cfg) {
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        const st = await r.exit();
        expectExit(st, { code: 137, signal: 'SIGKILL', oomKilled: true }, `${ALLOC_MIB} MiB under a ${MEMORY_MIB} MiB limit`);
        check(st.reason === `out of memory (limit ${MEMORY_MIB} MiB)`, `the exit reason is "${st.reason}", not "out of memory (limit ${MEMORY_MIB} MiB)"`);
        expectLine(log, `allocating ${ALLOC_MIB} MiB`, 'the probe');
      });
    },
  },
  {
    id: 'vmemory',
    feature: 'memory limit (vmemory): allocations over it are refused',
    title: `under vmemory = ${VMEMORY_MIB}M an allocation of ${ALLOC_MIB} MiB is refused before ${VMEMORY_MIB} MiB, and the command goes on`,
    needs: (os): CaseNeeds => (os === 'freebsd'
      ? { checks: [limitsCheck(os)] }
      : { notOnThisOs: 'vmemory is rctl(8)\'s vmemoryuse; Linux has no cgroup for address space and vessel sets none' }),
    configure: (base, h) => ({ ...withProbe(base, h, [['alloc', String(ALLOC_MIB)], ['exit', '0']]), limits: { vmemoryBytes: VMEMORY_MIB * MIB } }),
    async run(h, cfg) {
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        expectExit(await r.exit(), { code: 0 }, 'the allocation probe');
        const line = expectLine(log, /^alloc refused after \d+ MiB$/, `${ALLOC_MIB} MiB under a vmemory limit of ${VMEMORY_MIB} MiB`);
        const got = Number(/(\d+)/.exec(line)?.[1]);
        check(got < VMEMORY_MIB, `the allocation was refused only after ${got} MiB, over the ${VMEMORY_MIB} MiB limit`);
      });
    },
  },
  {
    id: 'maxproc',
    feature: 'process-count limit',
    title: `under maxproc = ${MAXPROC} a fork beyond it fails with EAGAIN`,
    needs: (os): CaseNeeds => ({ checks: [limitsCheck(os)] }),
    configure: (base, h) => ({ ...withProbe(base, h, FORK_STEPS), limits: { maxproc: MAXPROC } }),
    async run(h, cfg) {
      await withRunning(h, cfg, async (r) => {
        expectExit(await r.exit(), { code: 0 }, 'the fork probe');
        expectForkLimit(logOf(cfg), 'the command');
      });
    },
  },
];
