/**
 * The line protocol between a container's native monitor and `vessel up`'s service
 * (native/common/service.h is the other side; docs/supervision.md lists it). One text line per
 * message; the monitor sends one request at a time and waits for one reply line. Pure.
 *
 *   hello 1 vassal PID FILE | hello 1 monitor PID NAME   → ok | error REASON
 *   hello 1 cli PID                                      (the front end: cli.ts has the rest)
 *   prepare                                              → plan PATH | wait REASON | idle REASON | fail REASON
 *   started RUN INITPID                                  → ok
 *   exited RUN CODE STOPPED                              → respawn | idle | released | fail REASON
 *   reload                                               → unchanged | changed | surge
 *   prepare-next                                         → plan PATH | fail REASON     (a zero-downtime reload)
 *   switch RUN                                           → switched | fail REASON
 *   retired RUN                                          → ok
 *   abandon RUN REASON                                   → released
 *   health RUN STATUS                                    → ok
 *   release                                              → released
 *   stop                                                 → ok (once the containers depending on this one are down)
 *   bye                                                  → ok
 */
export const SERVICE_PROTOCOL = 1;
/** Longer lines are garbage, on both sides. */
export const LINE_MAX = 4096;

export type Hello = { kind: 'vassal'; pid: number; file: string } | { kind: 'monitor'; pid: number; name: string } | { kind: 'cli'; pid: number };

export type Request =
  | { verb: 'prepare' }
  | { verb: 'started'; run: number; initPid: number }
  | { verb: 'exited'; run: number; code: number; stopped: boolean }
  | { verb: 'reload' }
  | { verb: 'health'; run: number; status: 'starting' | 'healthy' | 'unhealthy' }
  | { verb: 'prepare-next' }
  | { verb: 'stop' }
  | { verb: 'switch' | 'retired'; run: number }
  | { verb: 'abandon'; run: number; reason: string }
  | { verb: 'release' }
  | { verb: 'bye' };

export type Reply =
  | { kind: 'ok' }
  | { kind: 'plan'; path: string }
  | { kind: 'wait' | 'idle' | 'fail' | 'error'; reason: string }
  | { kind: 'respawn' | 'unchanged' | 'changed' | 'surge' | 'switched' }
  /** SAY: a line a foreground monitor prints for its user (why a run ended: OOM, a command that could not start). */
  | { kind: 'released'; say?: string };

const INT = /^-?\d+$/;

/** A hello, or why it is refused (a monitor of another protocol version, a malformed line). */
export function parseHello(line: string): Hello | string {
  const cli = /^hello (\d+) cli (\d+)$/.exec(line);
  if (cli) return Number(cli[1]) === SERVICE_PROTOCOL ? { kind: 'cli', pid: Number(cli[2]) } : `protocol ${cli[1]} is not ${SERVICE_PROTOCOL}: rebuild vessel (npm run build)`;
  const m = /^hello (\d+) (vassal|monitor) (\d+) (.+)$/.exec(line);
  if (!m) return `expected "hello ${SERVICE_PROTOCOL} vassal|monitor PID ARG", got ${JSON.stringify(line.slice(0, 80))}`;
  if (Number(m[1]) !== SERVICE_PROTOCOL) return `protocol ${m[1]} is not ${SERVICE_PROTOCOL}: rebuild vessel (npm run build) so the monitor and vessel up match`;
  const pid = Number(m[3]);
  return m[2] === 'vassal' ? { kind: 'vassal', pid, file: m[4]! } : { kind: 'monitor', pid, name: m[4]! };
}

export function parseRequest(line: string): Request | undefined {
  const f = line.split(' ');
  switch (f[0]) {
    case 'prepare':
    case 'reload':
    case 'release':
    case 'bye':
    case 'prepare-next':
    case 'stop':
      return f.length === 1 ? { verb: f[0] } : undefined;
    case 'switch':
    case 'retired':
      return f.length === 2 && INT.test(f[1]!) ? { verb: f[0], run: Number(f[1]) } : undefined;
    case 'abandon':
      return f.length >= 2 && INT.test(f[1]!) ? { verb: 'abandon', run: Number(f[1]), reason: f.slice(2).join(' ') } : undefined;
    case 'started':
      return f.length === 3 && INT.test(f[1]!) && INT.test(f[2]!) ? { verb: 'started', run: Number(f[1]), initPid: Number(f[2]) } : undefined;
    case 'exited':
      return f.length === 4 && INT.test(f[1]!) && INT.test(f[2]!) && (f[3] === '0' || f[3] === '1')
        ? { verb: 'exited', run: Number(f[1]), code: Number(f[2]), stopped: f[3] === '1' }
        : undefined;
    case 'health':
      return f.length === 3 && INT.test(f[1]!) && (f[2] === 'starting' || f[2] === 'healthy' || f[2] === 'unhealthy')
        ? { verb: 'health', run: Number(f[1]), status: f[2] }
        : undefined;
    default:
      return undefined;
  }
}

/** One line; a reason loses its line breaks (the next line would be read as another reply). */
export function formatReply(r: Reply): string {
  const flat = (s: string): string => s.replace(/[\r\n]+/g, ' ').slice(0, LINE_MAX - 64);
  switch (r.kind) {
    case 'plan':
      return `plan ${flat(r.path)}`;
    case 'released':
      return r.say ? `released ${flat(r.say)}` : 'released';
    case 'wait':
    case 'idle':
    case 'fail':
    case 'error':
      return `${r.kind} ${flat(r.reason)}`;
    default:
      return r.kind;
  }
}
