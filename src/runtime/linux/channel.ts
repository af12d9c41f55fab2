import type { Socket } from 'node:net';

/**
 * The status channel of `vessel-init exec` (fd 3, a socketpair): it reports "pid N", "ready",
 * "main-exit CODE", "error MSG", "notfound MSG", "cannotrun MSG"; we may answer "go".
 */
export type InitMessage =
  | { kind: 'pid'; pid: number }
  | { kind: 'ready' }
  | { kind: 'main-exit'; code: number }
  | { kind: 'error'; message: string }
  | { kind: 'notfound'; message: string }
  | { kind: 'cannotrun'; message: string };

export function parseInitLine(line: string): InitMessage | undefined {
  const sp = line.indexOf(' ');
  const word = sp < 0 ? line : line.slice(0, sp);
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  switch (word) {
    case 'pid': return { kind: 'pid', pid: Number(rest) };
    case 'ready': return { kind: 'ready' };
    case 'main-exit': return { kind: 'main-exit', code: Number(rest) };
    case 'error': return { kind: 'error', message: rest };
    case 'notfound': return { kind: 'notfound', message: rest };
    case 'cannotrun': return { kind: 'cannotrun', message: rest };
    default: return undefined;
  }
}

export function onInitMessages(sock: Socket, handler: (m: InitMessage) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = parseInitLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (m) handler(m);
    }
  });
  sock.on('error', () => undefined); // EPIPE/ECONNRESET when init exits: the exit event tells the story
}
