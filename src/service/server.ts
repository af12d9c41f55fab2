import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { VesselError, errorMessage, type Log } from '../util/index.js';
import { LINE_MAX, formatReply, parseHello, parseRequest, type Hello, type Reply, type Request } from './protocol.js';
import { formatOutcome, formatOutput, parseCliLine, type CliHandler, type CliOutcome, type CliRequest } from './cli.js';

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
  open(hello: Exclude<Hello, { kind: 'cli' }>): Session | string;
  /** The native front end's requests (cli.ts); without it they are refused and it runs the Node CLI. */
  cli?: CliHandler;
}

export interface Service {
  readonly path: string;
  close(): Promise<void>;
}

function serve(sock: Socket, handler: ServiceHandler, log: Log): void {
  let buf = '';
  let session: Session | undefined;
  let cli: (CliRequest & { foreign: boolean }) | undefined;
  let bye = false;
  // A served command's caller: gone before the outcome means stop the command (cli.ts).
  const callerGone = new AbortController();
  let queue = Promise.resolve();
  const send = (line: string): void => {
    if (!sock.destroyed) sock.write(line + '\n');
  };
  const refuse = (why: string): void => {
    send(formatReply({ kind: 'error', reason: why }));
    sock.end();
  };
  const onCliLine = async (req: CliRequest & { foreign: boolean }, line: string): Promise<void> => {
    const l = parseCliLine(line);
    switch (l.kind) {
      case 'bad':
        return refuse(l.why);
      case 'foreign':
        req.foreign = true;
        return;
      case 'cwd':
        req.cwd = l.text;
        return;
      case 'arg':
        req.args.push(l.text);
        return;
      case 'env': {
        const eq = l.text.indexOf('=');
        if (eq > 0) req.env[l.text.slice(0, eq)] = l.text.slice(eq + 1);
        return;
      }
      case 'term':
        req.term = { columns: l.columns };
        return;
      case 'go': {
        let outcome: CliOutcome;
        const stream = {
          stdout: (s: string) => { if (s !== '') send(formatOutput('stdout', s).slice(0, -1)); },
          stderr: (s: string) => { if (s !== '') send(formatOutput('stderr', s).slice(0, -1)); },
          signal: callerGone.signal,
        };
        try {
          const { foreign: _f, ...plain } = req;
          outcome = req.foreign ? { kind: 'node' } : await handler.cli!(plain, stream);
        } catch (e) {
          log.error({ err: errorMessage(e) }, 'CLI request failed');
          outcome = { kind: 'done', stdout: '', stderr: `vessel: internal error in vessel up: ${errorMessage(e)}\n`, code: 125 };
        }
        if (!sock.destroyed) sock.end(formatOutcome(outcome));
        return;
      }
    }
  };
  const onLine = async (line: string): Promise<void> => {
    if (cli) return onCliLine(cli, line);
    if (!session) {
      const hello = parseHello(line);
      if (typeof hello === 'string') return refuse(hello);
      if (hello.kind === 'cli') {
        if (!handler.cli) return refuse('this vessel up does not serve the CLI');
        // no reply: the front end sends its whole request at once, then reads the outcome
        cli = { pid: hello.pid, cwd: '/', env: {}, args: [], foreign: false };
        return;
      }
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
    callerGone.abort(new VesselError('E_INTERRUPTED', 'the command\'s caller went away'));
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
