import { describe, expect, it } from 'vitest';
import { host, run, stderrOf } from '../../src/util/host.js';

/**
 * util/host run(): a command that outlives its timeout is stopped for good, and run() settles
 * even when the command leaves something holding its pipes. Real children, no mocks.
 */
describe('host run(): timeouts and pipes', () => {
  it('a command ignoring SIGTERM is killed after its timeout; the reason keeps its own line', async () => {
    // SIG_IGN is inherited across exec: sleep itself ignores the timeout's SIGTERM
    const r = await run(['sh', '-c', `trap '' TERM; echo 'the reason' >&2; exec sleep 60`], { timeoutMs: 200, allowFailure: true });
    expect(r.exitCode).toBe(124);
    expect(r.stderr).toBe('the reason\ntimed out after 200 ms');
  });

  it("the failure message names the command's last line and the timeout apart", async () => {
    await expect(run(['sh', '-c', `printf 'no newline' >&2; exec sleep 60`], { timeoutMs: 200 }))
      .rejects.toThrow(/exited 124: no newline \| timed out after 200 ms$/);
  });

  it('a command that exits while a grandchild holds its pipes settles with its own code and output', async () => {
    const r = await run(['sh', '-c', 'sleep 60 & echo $!; echo gone >&2; exit 3'], { allowFailure: true });
    const grandchild = Number(r.stdout.trim());
    try {
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toBe('gone\n');
      expect(grandchild).toBeGreaterThan(0);
      expect(() => process.kill(grandchild, 0)).not.toThrow(); // it did still hold them
    } finally {
      if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
    }
  });

  it('a timed-out command whose grandchild holds its pipes settles too', async () => {
    const r = await run(['sh', '-c', 'sleep 60 & echo $!; exec sleep 60'], { timeoutMs: 200, allowFailure: true });
    const grandchild = Number(r.stdout.trim());
    try {
      expect(r.exitCode).toBe(124);
      expect(r.stderr).toBe('timed out after 200 ms');
    } finally {
      if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
    }
  });
});

describe('stderrOf(): the words a spawned tool says before it exits', () => {
  it('done() waits for what is still in flight after the exit; lines(n) and last(n) are its last lines', async () => {
    // the reason arrives after the process the caller awaited has exited (a child of it writes it)
    const child = host().spawn(['sh', '-c', '(sleep 0.2; printf "first\\n\\nsecond  \\nthe reason\\n" >&2) & exit 1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const err = stderrOf(child);
    expect((await child.exited).code).toBe(1);
    await err.done();
    expect(err.lines(4)).toEqual(['first', 'second', 'the reason']);
    expect(err.lines(1)).toEqual(['the reason']);
    expect(err.last()).toBe('second | the reason');
  });

  it('done() settles even while a grandchild keeps the pipe open', async () => {
    const child = host().spawn(['sh', '-c', 'sleep 60 & echo $! >&2; exit 1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const err = stderrOf(child);
    await child.exited;
    await err.done();
    const grandchild = Number(err.last(1));
    try {
      expect(grandchild).toBeGreaterThan(0);
      expect(() => process.kill(grandchild, 0)).not.toThrow();
    } finally {
      if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
      (child.pipes[2] as NodeJS.ReadableStream & { destroy(): void }).destroy();
    }
  });
});
