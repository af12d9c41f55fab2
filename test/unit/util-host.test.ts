import { describe, expect, it } from 'vitest';
import { run } from '../../src/util/host.js';

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
