/**
 * The processes of the model FreeBSD host (test/helpers/freebsd.ts): which jail each is in (what
 * `ps -J` lists and `pkill -j` reaches), what a signal does to it, and who waits for its end.
 *
 * A process the model started itself (a container's command, a `vessel exec`) has signal
 * dispositions as signal(3) gives them: the default action of HUP, INT, QUIT, ALRM, TERM, USR1
 * and USR2 ends the process (128 + the signal's number), a process may ignore or catch them, and
 * nothing stops SIGKILL. A pid a test put into the model by hand (`fake.procs.set(…)`) is a plain
 * stand-in that only TERM and KILL end, as the model always had it.
 */

/** sys/sys/signal.h: FreeBSD's numbers of the signals vessel and its probe use (USR1/USR2 differ from Linux). */
export const FREEBSD_SIGNALS = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, ALRM: 14, TERM: 15, USR1: 30, USR2: 31 } as const;

/** `TERM`, `SIGTERM`, `15` → 15; undefined for a signal the model does not know. */
export function signalNumber(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  return (FREEBSD_SIGNALS as Readonly<Record<string, number>>)[name.replace(/^SIG/, '')];
}

export function signalLabel(n: number): string {
  return Object.entries(FREEBSD_SIGNALS).find(([, v]) => v === n)?.[0] ?? String(n);
}

/** What a signal does to a process: its default action, nothing, or a handler the process installed. */
export type Disposition = 'default' | 'ignore' | ((sig: number) => void);

export class ModelProcess {
  readonly handlers = new Map<number, Disposition>();
  ended = false;
  /** The wait status as a shell reports it: the exit code, or 128 + the signal. */
  code: number | undefined;
  readonly waiters: Array<(code: number) => void> = [];
  constructor(readonly pid: number, readonly jail: string) {}

  /** Settles with the wait status when the process ends. */
  wait(): Promise<number> {
    if (this.ended) return Promise.resolve(this.code!);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export class ModelProcesses {
  private readonly table = new Map<number, ModelProcess>();

  constructor(
    private readonly procs: Map<string, number[]>,
    private readonly changed: () => void,
    private readonly nextPid: () => number,
  ) {}

  /** A new process in JAIL (listed by ps -J at once). */
  spawn(jail: string): ModelProcess {
    const p = new ModelProcess(this.nextPid(), jail);
    this.table.set(p.pid, p);
    this.procs.set(jail, [...(this.procs.get(jail) ?? []), p.pid]);
    return p;
  }

  get(pid: number): ModelProcess | undefined {
    const p = this.table.get(pid);
    return p && !p.ended ? p : undefined;
  }

  /** The live processes of JAIL the model started (hand-put pids are not among them). */
  inJail(jail: string): ModelProcess[] {
    return (this.procs.get(jail) ?? []).map((pid) => this.get(pid)).filter((p): p is ModelProcess => p !== undefined);
  }

  /** The process ends with CODE (an exit code, or 128 + a signal): gone from ps, its waiters told. */
  exit(p: ModelProcess, code: number): void {
    if (p.ended) return;
    p.ended = true;
    p.code = code;
    const left = (this.procs.get(p.jail) ?? []).filter((x) => x !== p.pid);
    if (this.procs.has(p.jail)) this.procs.set(p.jail, left);
    for (const w of p.waiters.splice(0)) w(code);
    this.changed();
  }

  /** kill(2) of one pid; false when there is no such process. */
  signal(pid: number, sig: number): boolean {
    const p = this.table.get(pid);
    if (p === undefined || p.ended) {
      // a hand-put stand-in: TERM and KILL end it
      const jail = [...this.procs].find(([, pids]) => pids.includes(pid))?.[0];
      if (jail === undefined) return false;
      if (sig === FREEBSD_SIGNALS.TERM || sig === FREEBSD_SIGNALS.KILL) this.procs.set(jail, this.procs.get(jail)!.filter((x) => x !== pid));
      return true;
    }
    const d = sig === FREEBSD_SIGNALS.KILL ? 'default' : (p.handlers.get(sig) ?? 'default');
    if (d === 'ignore') return true;
    if (typeof d === 'function') d(sig);
    else this.exit(p, 128 + sig);
    return true;
  }

  /** pkill -SIG -j JID: every process of the jail; false when none matched (pkill exits 1). */
  signalJail(jail: string, sig: number): boolean {
    const pids = [...(this.procs.get(jail) ?? [])];
    for (const pid of pids) this.signal(pid, sig);
    return pids.length > 0;
  }

  /** jail -r, or a monitor's starter killing what is left: every process of the jail, SIGKILLed. */
  killJail(jail: string): void {
    for (const p of this.inJail(jail)) this.exit(p, 128 + FREEBSD_SIGNALS.KILL);
    if (this.procs.has(jail)) this.procs.set(jail, []);
  }
}
