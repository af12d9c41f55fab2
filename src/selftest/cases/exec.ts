import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerConfig } from '../../runtime/index.js';
import { check, type CaseNeeds, type ContractCase, type ContractHost } from '../contract.js';
import { FORK_STEPS, MAXPROC, PROBE_MOUNT, expectForkLimit, logOf, probeArgv, reportLines, waitForLine, withProbe, withRunning, within, type CaseRun, type Step } from '../probe.js';

/**
 * `vessel exec` into a running container: the new process is in the container's namespaces or
 * jail (it sees the main command's files and process, and its hostname), runs with exactly what
 * the exec asked (user, directory, environment), returns its exit code, and is held by the
 * container's limits. Its report goes to a read-write volume: exec's output is the caller's.
 */

/** In the container's own root (not a volume): only a process in that root sees it. */
const MARK = '/selftest-main';
const OUT = '/selftest-out';
const EXEC_ENV = ['PATH=/bin:/usr/bin', 'HOME=/', 'SELFTEST_EXEC=yes'];

const outDir = (cfg: ContainerConfig): string => join(cfg.dir, 'selftest-exec');

/** The main command: writes its pid where only its own root has it, then waits to be stopped. */
function configure(base: ContainerConfig, h: ContractHost): ContainerConfig {
  const cfg = withProbe(base, h, [['pidfile', MARK], ['sleep']]);
  return { ...cfg, user: 'root', mounts: [...cfg.mounts, { kind: 'bind', source: outDir(base), target: OUT, readonly: false }] };
}

/** Start, wait for the main command's pid, exec the probe with STEPS; its report lines and exit code. */
async function execProbe(h: ContractHost, cfg: ContainerConfig, steps: (mainPid: string) => Step[], fn: (lines: string[], code: number, mainPid: string) => void): Promise<void> {
  rmSync(outDir(cfg), { recursive: true, force: true });
  mkdirSync(outDir(cfg), { recursive: true });
  await withRunning(h, cfg, async (r: CaseRun) => {
    const line = await waitForLine(logOf(cfg), new RegExp(`^pidfile ${MARK} \\d+$`), 'the main command', r.started.exited);
    const mainPid = line.split(' ')[2]!;
    const code = await within(h.driver.exec(r.ref, { argv: probeArgv(PROBE_MOUNT, steps(mainPid), `${OUT}/exec.txt`), env: EXEC_ENV, workdir: PROBE_MOUNT, user: 'root', tty: false, interactive: false }), 'vessel exec');
    fn(reportLines(join(outDir(cfg), 'exec.txt')), code, mainPid);
    check(!r.ended(), 'the container ended during the exec (its main command sleeps until stopped)');
  });
}

const has = (lines: string[], want: string, what: string): void => check(lines.includes(want), `${what}: expected "${want}", the exec reported [${lines.join(' | ')}]`);

export const EXEC_CASES: readonly ContractCase[] = [
  {
    id: 'exec',
    feature: 'exec into a running container',
    title: 'an exec\'d command is in the container (its files, its processes, its hostname), runs as asked, and its exit code comes back',
    configure,
    async run(h, cfg) {
      await execProbe(h, cfg, (pid) => [['read', MARK], ['signal0', pid], ['identity'], ['exit', '5']], (lines, code, pid) => {
        check(code === 5, `the exec's exit code is ${code}, not 5`);
        has(lines, `read ${MARK} ${pid}\\n`, 'the main command\'s file in the container\'s root');
        has(lines, `signal0 ${pid} ok`, 'the main command\'s process, seen from the exec');
        has(lines, `hostname ${cfg.hostname}`, 'the container\'s hostname');
        has(lines, 'uid 0', 'the exec\'s user');
        has(lines, `cwd ${PROBE_MOUNT}`, 'the exec\'s working directory');
        const env = lines.filter((l) => l.startsWith('env ')).map((l) => l.slice(4));
        check(JSON.stringify(env) === JSON.stringify(EXEC_ENV), `the exec's environment is [${env.join(' | ')}], not exactly [${EXEC_ENV.join(' | ')}]`);
      });
    },
  },
  {
    id: 'exec-limits',
    feature: 'exec into a running container: held by its limits',
    title: `an exec'd command is held by the container's process limit (maxproc = ${MAXPROC}): a fork beyond it fails with EAGAIN`,
    needs: (os): CaseNeeds => ({ checks: [os === 'linux' ? 'cgroups' : 'racct'] }),
    configure: (base, h) => ({ ...configure(base, h), limits: { maxproc: MAXPROC } }),
    async run(h, cfg) {
      await execProbe(h, cfg, () => FORK_STEPS, (_lines, code) => {
        check(code === 0, `the exec's exit code is ${code}, not 0`);
        expectForkLimit(join(outDir(cfg), 'exec.txt'), 'the exec');
      });
    },
  },
];
