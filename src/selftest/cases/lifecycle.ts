import type { ContractCase } from '../contract.js';
import { ContractFailure, check } from '../contract.js';
import { expectExit, expectLine, expectNoLine, logOf, waitForLine, withProbe, withRunning, within } from '../probe.js';

/**
 * A container's life: the command's exit code comes back (128+n for a signal), the stop signal
 * reaches the command and SIGKILL follows the timeout, and the container lives while any of its
 * processes lives (wait = all) or only as long as its main command (wait = main).
 */

/** The stop timeout of the case whose command ignores the stop signal. */
const SHORT_TIMEOUT_S = 1;
const ENDED_WITH_MAIN = 'the container ended when its main command exited, with a child of it still running (wait = all)';

export const LIFECYCLE_CASES: readonly ContractCase[] = [
  {
    id: 'exit-code',
    feature: 'the command\'s exit code comes back',
    title: 'a command that exits 7 is reported as exit code 7',
    configure: (base, h) => withProbe(base, h, [['exit', '7']]),
    async run(h, cfg) {
      await withRunning(h, cfg, async (r) => expectExit(await r.exit(), { code: 7 }, 'exit 7'));
    },
  },
  {
    id: 'exit-signal',
    feature: 'a command killed by a signal comes back as 128+n',
    title: 'a command that dies of SIGTERM is reported as 143, killed by SIGTERM',
    // TERM is 15 on every OS vessel runs on (signal(3)); USR1 and friends are not.
    configure: (base, h) => withProbe(base, h, [['raise', 'TERM']]),
    async run(h, cfg) {
      await withRunning(h, cfg, async (r) => expectExit(await r.exit(), { code: 143, signal: 'SIGTERM' }, 'raise TERM'));
    },
  },
  {
    id: 'stop-signal',
    feature: 'stop: the stop signal reaches the command',
    title: 'stopping with SIGHUP (not the default) reaches a command that catches it; its own exit code comes back',
    configure: (base, h) => ({ ...withProbe(base, h, [['catch', 'HUP', '3']]), stopSignal: 'SIGHUP' }),
    async run(h, cfg) {
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        await waitForLine(log, /^catching HUP$/, 'the command to be ready', r.started.exited);
        await h.driver.stop(r.ref, 'SIGHUP', 10);
        expectExit(await r.exit(), { code: 3 }, 'a command that caught SIGHUP and exited 3');
        expectLine(log, 'caught HUP', 'the stop signal');
      });
    },
  },
  {
    id: 'stop-early',
    feature: 'stop: the stop signal reaches the command',
    title: 'a stop sent the moment start() returns reaches the command (143), not the stop timeout\'s SIGKILL',
    // start() may return while the container's init is still finishing its set-up: a stop then
    // must wait for the command, not be lost (it was, on Linux, half of the time)
    configure: (base, h) => withProbe(base, h, [['sleep']]),
    async run(h, cfg) {
      await withRunning(h, cfg, async (r) => {
        await within(h.driver.stop(r.ref, 'SIGTERM', 30), 'stop');
        expectExit(await r.exit(), { code: 143, signal: 'SIGTERM' }, 'a command stopped at once');
      });
    },
  },
  {
    id: 'stop-timeout',
    feature: 'stop: SIGKILL after the timeout',
    title: `a command that ignores SIGTERM is killed with SIGKILL after the stop timeout (${SHORT_TIMEOUT_S} s)`,
    configure: (base, h) => withProbe(base, h, [['ignore', 'TERM']]),
    async run(h, cfg) {
      await withRunning(h, cfg, async (r) => {
        await waitForLine(logOf(cfg), /^ignoring TERM$/, 'the command to be ready', r.started.exited);
        await within(h.driver.stop(r.ref, 'SIGTERM', SHORT_TIMEOUT_S), 'stop');
        expectExit(await r.exit(), { code: 137, signal: 'SIGKILL' }, 'a command that ignored SIGTERM');
      });
    },
  },
  {
    id: 'wait-all',
    feature: 'jail semantics: the container lives while any of its processes lives',
    title: 'wait = all: the main command exits 7 and a child it left keeps the container up until it ends; the code is the main command\'s',
    configure: (base, h) => ({ ...withProbe(base, h, [['orphan'], ['exit', '7']]), wait: 'all' }),
    async run(h, cfg) {
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        // "orphaned": the child saw its parent (the main command) gone
        await waitForLine(log, /^orphaned$/, 'the main command to exit with its child left running (wait = all)', r.started.exited).catch((e: unknown) => {
          throw r.ended() ? new ContractFailure(ENDED_WITH_MAIN) : e;
        });
        check(!r.ended(), ENDED_WITH_MAIN);
        await h.driver.signal(r.ref, 'SIGUSR2', 'all');
        expectExit(await r.exit(), { code: 7 }, 'the main command\'s exit');
        expectLine(log, 'released', 'the child ran until it was told to end');
      });
    },
  },
  {
    id: 'wait-main',
    feature: 'jail semantics, wait = main: the container ends with its main command',
    title: 'wait = main: the container ends when its main command exits 7, and the child it left is killed',
    configure: (base, h) => ({ ...withProbe(base, h, [['orphan'], ['exit', '7']]), wait: 'main' }),
    async run(h, cfg) {
      const log = logOf(cfg);
      await withRunning(h, cfg, async (r) => {
        expectExit(await r.exit(), { code: 7 }, 'the main command\'s exit');
        expectLine(log, /^forked \d+$/, 'the main command');
        // the child ends only when told (SIGUSR2) or killed; nobody told it
        expectNoLine(log, /^released$/, 'the child outlived the container');
      });
    },
  },
];
