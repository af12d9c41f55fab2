import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { decodeCommand, emperorFd } from '../../src/emperor/protocol.js';
describe('Emperor protocol bytes', () => {
  it('0 and 2 stop, 1 reloads, others are ignored', () => {
    expect(decodeCommand(0)).toBe('stop');
    expect(decodeCommand(2)).toBe('stop');
    expect(decodeCommand(1)).toBe('reload');
    expect(decodeCommand(26)).toBeUndefined();
  });

  it('reads UWSGI_EMPEROR_FD', () => {
    expect(emperorFd({})).toBeUndefined();
    expect(emperorFd({ UWSGI_EMPEROR_FD: '3' })).toBe(3);
    expect(() => emperorFd({ UWSGI_EMPEROR_FD: 'x' })).toThrow(/UWSGI_EMPEROR_FD=x/);
  });

  it('speaks over a real socketpair: commands in, bytes out, EOF seen', async () => {
    // Node gives a child's extra 'pipe' stdio as one end of a unix socketpair: fd 3 there.
    // The child runs the built module (npm test builds first).
    const script = `
      import { EmperorChannel, ToEmperor } from ${JSON.stringify(join(__dirname, '..', '..', 'dist', 'emperor', 'protocol.js'))};
      const ch = new EmperorChannel(3);
      ch.send(ToEmperor.SPAWNED);
      ch.on('command', (c) => { process.stderr.write('cmd:' + c + '\\n'); ch.send(c === 'reload' ? ToEmperor.SPAWNED : ToEmperor.LOYAL); });
      ch.on('end', () => { process.stderr.write('end\\n'); process.exit(0); });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'inherit', 'pipe', 'pipe'] });
    const sock = child.stdio[3] as import('node:net').Socket;
    const got: number[] = [];
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    sock.on('data', (b: Buffer) => got.push(...b));
    const waitBytes = async (n: number) => {
      for (let i = 0; i < 200 && got.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    };
    await waitBytes(1);
    sock.write(Buffer.from([1]));
    await waitBytes(2);
    sock.write(Buffer.from([2]));
    await waitBytes(3);
    sock.end();
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    expect({ got, code }).toEqual({ got: [1, 1, 17], code: 0 });
    expect(err).toContain('cmd:reload\ncmd:stop\nend\n');
  });
});
