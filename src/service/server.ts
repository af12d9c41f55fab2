import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { VesselError, errorMessage, type Log } from '../util/index.js';
import { LINE_MAX, formatReply, parseHello, parseRequest, type Hello, type Reply, type Request } from './protocol.js';

/**
 * `vessel up`'s service socket: root-only (the socket is 0600 in vessel's run directory), one
 * connection per container monitor, requests handled one at a time per connection and in order.
 * A line it cannot read gets `error …` and the connection is closed; the monitor fails its
 * container with one line rather than wait. What the requests mean is the session's business.
 */
export interface Session {
  handle(req: Request): Promise<Reply>;
  /** The monitor went away; GRACEFUL when it said bye first. */
  closed(graceful: boolean): void;
}

export interface ServiceHandler {
  /** A session for this monitor, or the reason it is refused. */
  open(hello: Hello): Session | string;
}

export interface Service {
  readonly path: string;
  close(): Promise<void>;
}

function serve(sock: Socket, handler: ServiceHandler, log: Log): void {
  let buf = '';
  let session: Session | undefined;
  let bye = false;
  let queue = Promise.resolve();
  const send = (line: string): void => {
    if (!sock.destroyed) sock.write(line + '\n');
  };
  const refuse = (why: string): void => {
    send(formatReply({ kind: 'error', reason: why }));
    sock.end();
  };
  const onLine = async (line: string): Promise<void> => {
    if (!session) {
      const hello = parseHello(line);
      if (typeof hello === 'string') return refuse(hello);
      const s = handler.open(hello);
      if (typeof s === 'string') return refuse(s);
      session = s;
      send('ok');
      return;
    }
    const req = parseRequest(line);
    if (!req) return refuse(`unknown request ${JSON.stringify(line.slice(0, 80))}`);
    if (req.verb === 'bye') bye = true;
    let reply: Reply;
    try {
      reply = await session.handle(req);
    } catch (e) {
      log.error({ err: errorMessage(e), request: req.verb }, 'service request failed');
      reply = req.verb === 'prepare' || req.verb === 'exited' ? { kind: 'fail', reason: errorMessage(e) } : { kind: 'error', reason: errorMessage(e) };
    }
    send(formatReply(reply));
  };
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      queue = queue.then(() => onLine(line));
    }
    if (buf.length > LINE_MAX) {
      buf = '';
      queue = queue.then(() => refuse(`a line longer than ${LINE_MAX} bytes`));
    }
  });
  sock.on('error', () => undefined);
  sock.on('close', () => {
    void queue.then(() => session?.closed(bye));
  });
}

export async function startService(path: string, handler: ServiceHandler, log: Log): Promise<Service> {
  mkdirSync(dirname(path), { recursive: true });
  // A socket left by a SIGKILLed `vessel up`: nobody listens on it any more.
  try { unlinkSync(path); } catch { /* none */ }
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    serve(sock, handler, log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new VesselError('E_HOST', `service socket ${path}: ${errorMessage(e)}`)));
    // 0600 from the first moment: a container's plan and decisions are root's business only.
    const old = process.umask(0o177);
    server.listen(path, () => {
      process.umask(old);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        try { unlinkSync(path); } catch { /* gone */ }
      }),
  };
}
