import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for a Nomad agent's HTTP API, for tests: no Nomad binary can be installed here.
 * It implements exactly the endpoints vessel calls, with the request and response shapes of
 * hashicorp/nomad's `api` package (field names as Go marshals them, durations in nanoseconds):
 *
 *   POST|PUT /v1/jobs                 api/jobs.go  RegisterOpts: body JobRegisterRequest {"Job": …}
 *                                                  → JobRegisterResponse {EvalID, EvalCreateIndex, JobModifyIndex, Warnings}
 *   GET      /v1/job/:id              api/jobs.go  Info → Job (ID, Name, Type, Status pending|running|dead, Stop)
 *   GET      /v1/job/:id/allocations  api/jobs.go  Allocations (?all=) → []AllocationListStub (api/allocations.go),
 *                                                  TaskStates → TaskState/TaskEvent (api/tasks.go)
 *   DELETE   /v1/job/:id              api/jobs.go  Deregister (?purge=) → JobDeregisterResponse {EvalID, …}
 *   GET      /v1/evaluation/:id       api/evaluations.go Info → Evaluation (Status, FailedTGAllocs map[group]AllocationMetric,
 *                                                  BlockedEval, StatusDescription)
 *
 * and the conventions of api/api.go: X-Nomad-Token, ?namespace= / ?region=, blocking queries
 * with ?index=N&wait=Xms answered with X-Nomad-Index (plus X-Nomad-KnownLeader / LastContact).
 * A small scheduler places allocations on fake nodes by the ${attr.kernel.name} constraint and
 * the CPU/MemoryMB asked, so "cannot be placed" answers carry the metrics a real one would.
 * Tests drive the clients' side: allocations start, finish with an exit code, or are lost.
 */

export interface FakeNode {
  ID: string;
  Name: string;
  kernel: 'linux' | 'freebsd';
  cpuMHz: number;
  memoryMB: number;
}

interface Constraint { LTarget: string; RTarget: string; Operand: string }
interface TaskIn { Name: string; Driver: string; Resources?: { CPU?: number; MemoryMB?: number } }
interface GroupIn { Name: string; Count: number; Tasks: TaskIn[] }
interface JobIn { ID: string; Name: string; Type: string; Constraints?: Constraint[]; TaskGroups: GroupIn[] }

interface TaskEvent { Type: string; Time: number; DisplayMessage: string; Details: Record<string, string>; ExitCode: number }
interface TaskState { State: string; Failed: boolean; Restarts: number; Events: TaskEvent[] }

export interface Alloc {
  ID: string;
  EvalID: string;
  Name: string;
  Namespace: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  JobType: string;
  TaskGroup: string;
  DesiredStatus: string;
  DesiredDescription: string;
  ClientStatus: string;
  ClientDescription: string;
  TaskStates: Record<string, TaskState> | null;
  FollowupEvalID: string;
  NextAllocation: string;
  PreviousAllocation: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface Evaluation {
  ID: string;
  Namespace: string;
  Priority: number;
  Type: string;
  TriggeredBy: string;
  JobID: string;
  Status: string;
  StatusDescription: string;
  BlockedEval: string;
  PreviousEval: string;
  FailedTGAllocs: Record<string, Record<string, unknown>> | null;
  QueuedAllocations: Record<string, number> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

interface JobRec { job: JobIn; namespace: string; status: string; stop: boolean; modifyIndex: number }

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  token: string | undefined;
  body: unknown;
}

export interface FakeNomadOptions {
  nodes?: FakeNode[];
  /** When set, every request must carry this X-Nomad-Token. */
  token?: string;
  /** Serve HTTPS with this key/cert; with `ca`, also require a client certificate signed by it. */
  tls?: { key: string; cert: string; ca?: string };
  /** Allocations go pending → running on their own after placement (default true). */
  autoStart?: boolean;
}

export class FakeNomad {
  readonly requests: RequestRecord[] = [];
  readonly nodes: FakeNode[];
  private readonly jobs = new Map<string, JobRec>();
  private readonly evals = new Map<string, Evaluation>();
  private readonly allocs = new Map<string, Alloc>();
  private index = 10;
  private waiters: Array<() => void> = [];
  private server!: http.Server;
  address = '';

  constructor(private readonly opts: FakeNomadOptions = {}) {
    this.nodes = opts.nodes ?? [
      { ID: randomUUID(), Name: 'linux-1', kernel: 'linux', cpuMHz: 4000, memoryMB: 4096 },
      { ID: randomUUID(), Name: 'linux-2', kernel: 'linux', cpuMHz: 4000, memoryMB: 4096 },
    ];
  }

  async start(): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    this.server = this.opts.tls
      ? https.createServer({ key: this.opts.tls.key, cert: this.opts.tls.cert, ...(this.opts.tls.ca ? { ca: this.opts.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : http.createServer(handler);
    await new Promise<void>((res) => this.server.listen(0, '127.0.0.1', res));
    const port = (this.server.address() as AddressInfo).port;
    this.address = `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return this.address;
  }

  async stop(): Promise<void> {
    for (const w of this.waiters.splice(0)) w();
    this.server.closeAllConnections();
    await new Promise<void>((res) => this.server.close(() => res()));
  }

  // ---- what tests do to the "cluster" -------------------------------------------------------

  allocations(jobId?: string): Alloc[] {
    return [...this.allocs.values()].filter((a) => jobId === undefined || a.JobID === jobId);
  }

  /** The client reports the task running. */
  startAlloc(id: string): void {
    const a = this.mustAlloc(id);
    a.ClientStatus = 'running';
    a.TaskStates = { [a.TaskGroup]: { State: 'running', Failed: false, Restarts: 0, Events: [event('Received', 'Task received by client'), event('Started', 'Task started by client')] } };
    this.touch(a);
  }

  /** The task ends with `exitCode`: complete on 0, failed otherwise (no restart modelled). */
  finishAlloc(id: string, exitCode: number): void {
    const a = this.mustAlloc(id);
    const ts = a.TaskStates?.[a.TaskGroup] ?? { State: 'pending', Failed: false, Restarts: 0, Events: [] };
    ts.State = 'dead';
    ts.Failed = exitCode !== 0;
    const term = event('Terminated', `Exit Code: ${exitCode}`);
    term.Details = { exit_code: String(exitCode), signal: '0', oom_killed: 'false' };
    term.ExitCode = exitCode;
    ts.Events.push(term);
    a.TaskStates = { [a.TaskGroup]: ts };
    a.ClientStatus = exitCode === 0 ? 'complete' : 'failed';
    this.touch(a);
  }

  /**
   * The node stops heartbeating: its allocations become lost (as the server marks them when a
   * node goes down) and the scheduler places replacements elsewhere, linked by NextAllocation.
   */
  loseNode(name: string): void {
    const node = this.nodes.find((n) => n.Name === name);
    if (!node) throw new Error(`no fake node ${name}`);
    this.nodes.splice(this.nodes.indexOf(node), 1);
    for (const a of this.allocs.values()) {
      if (a.NodeID !== node.ID || a.DesiredStatus !== 'run' || isTerminal(a)) continue;
      const rec = this.jobs.get(key(a.Namespace, a.JobID))!;
      const ev = this.newEval(rec, 'node-update');
      a.ClientStatus = 'lost';
      a.DesiredStatus = 'stop';
      a.DesiredDescription = 'alloc is lost since its node is down';
      a.ClientDescription = 'alloc is lost since its node is down';
      a.FollowupEvalID = ev.ID;
      this.touch(a);
      const group = rec.job.TaskGroups.find((g) => g.Name === a.TaskGroup)!;
      const target = this.fit(rec.job, group, 1).nodes[0];
      if (target) {
        const next = this.newAlloc(rec, group, target, ev, a.Name);
        next.PreviousAllocation = a.ID;
        a.NextAllocation = next.ID;
        this.touch(a);
      }
      ev.Status = 'complete';
      this.bump(ev);
    }
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return this.send(res, 400, 'Request decode failed: invalid JSON');
    }
    const token = req.headers['x-nomad-token'] as string | undefined;
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query, token, body });
    if (this.opts.token !== undefined && token !== this.opts.token) return this.send(res, 403, 'Permission denied');
    const ns = query.namespace ?? 'default';
    const m = req.method;
    let r: RegExpExecArray | null;
    if (url.pathname === '/v1/jobs' && (m === 'POST' || m === 'PUT')) return this.register(res, ns, body);
    if ((r = /^\/v1\/evaluation\/([^/]+)$/.exec(url.pathname)) && m === 'GET') {
      return this.blocking(res, query, () => this.evals.get(decodeURIComponent(r![1]!)) ?? null, 'eval not found');
    }
    if ((r = /^\/v1\/job\/([^/]+)\/allocations$/.exec(url.pathname)) && m === 'GET') {
      const id = decodeURIComponent(r[1]!);
      return this.blocking(res, query, () => this.allocations().filter((a) => a.JobID === id && a.Namespace === ns), '');
    }
    if ((r = /^\/v1\/job\/([^/]+)$/.exec(url.pathname))) {
      const rec = this.jobs.get(key(ns, decodeURIComponent(r[1]!)));
      if (!rec) return this.send(res, 404, 'job not found');
      if (m === 'GET') return this.blocking(res, query, () => jobInfo(rec), '');
      if (m === 'DELETE') return this.deregister(res, rec);
    }
    return this.send(res, 404, `Invalid URL: ${m} ${url.pathname}`);
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    res.setHeader('X-Nomad-Index', String(this.index));
    res.setHeader('X-Nomad-KnownLeader', 'true');
    res.setHeader('X-Nomad-LastContact', '0');
    if (typeof body === 'string') {
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(body);
    } else {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    }
  }

  /** Blocking query semantics of api/api.go: hold until the index passes ?index= or ?wait= ends. */
  private async blocking(res: http.ServerResponse, q: Record<string, string>, read: () => unknown, notFound: string): Promise<void> {
    const after = Number(q.index ?? 0);
    if (after > 0 && this.index <= after) {
      const m = /^(\d+)(ms|s|m)$/.exec(q.wait ?? '');
      const waitMs = m ? Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1) : 300_000;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, waitMs);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.waiters.push(done);
      });
    }
    const value = read();
    if (value === null && notFound) return this.send(res, 404, notFound);
    this.send(res, 200, value);
  }

  private register(res: http.ServerResponse, ns: string, body: unknown): void {
    const job = (body as { Job?: JobIn } | undefined)?.Job;
    if (!job || typeof job.ID !== 'string' || !Array.isArray(job.TaskGroups)) {
      return this.send(res, 400, 'Job must be specified');
    }
    for (const g of job.TaskGroups) {
      for (const t of g.Tasks ?? []) {
        if (t.Driver !== 'raw_exec') return this.send(res, 400, `1 error occurred:\n\t* Task ${t.Name}: unexpected driver ${t.Driver}`);
      }
    }
    const k = key(ns, job.ID);
    const prev = this.jobs.get(k);
    this.index++;
    const rec: JobRec = { job, namespace: ns, status: 'pending', stop: false, modifyIndex: this.index };
    this.jobs.set(k, rec);
    if (prev) for (const a of this.allocations(job.ID)) if (a.Namespace === ns && !isTerminal(a)) this.stopAlloc(a, 'alloc not needed due to job update');
    const ev = this.newEval(rec, 'job-register');
    this.send(res, 200, { EvalID: ev.ID, EvalCreateIndex: ev.CreateIndex, JobModifyIndex: rec.modifyIndex, Warnings: '', Index: this.index, LastIndex: this.index });
    // The scheduler works after the register call returns, as Nomad's workers do.
    setTimeout(() => this.schedule(rec, ev), 20);
  }

  private deregister(res: http.ServerResponse, rec: JobRec): void {
    rec.stop = true;
    const ev = this.newEval(rec, 'job-deregister');
    this.send(res, 200, { EvalID: ev.ID, EvalCreateIndex: ev.CreateIndex, JobModifyIndex: this.index });
    setTimeout(() => {
      for (const a of this.allocations(rec.job.ID)) if (a.Namespace === rec.namespace && !isTerminal(a)) this.stopAlloc(a, 'alloc not needed since job was stopped');
      ev.Status = 'complete';
      rec.status = 'dead';
      this.bump(ev);
    }, 20);
  }

  private stopAlloc(a: Alloc, why: string): void {
    a.DesiredStatus = 'stop';
    a.DesiredDescription = why;
    this.touch(a);
    // The client kills the task (vessel stops the container) and reports it complete.
    setTimeout(() => {
      const ts = a.TaskStates?.[a.TaskGroup];
      if (ts) {
        ts.State = 'dead';
        ts.Events.push(event('Killed', 'Task successfully killed'));
      }
      a.ClientStatus = 'complete';
      this.touch(a);
    }, 30);
  }

  // ---- scheduling --------------------------------------------------------------------------------

  private schedule(rec: JobRec, ev: Evaluation): void {
    const failed: Record<string, Record<string, unknown>> = {};
    const queued: Record<string, number> = {};
    for (const g of rec.job.TaskGroups) {
      const fit = this.fit(rec.job, g, g.Count);
      fit.nodes.forEach((n, i) => this.newAlloc(rec, g, n, ev, `${rec.job.ID}.${g.Name}[${i}]`));
      const missing = g.Count - fit.nodes.length;
      queued[g.Name] = missing;
      if (missing > 0) failed[g.Name] = { ...fit.metric, CoalescedFailures: missing - 1 };
    }
    ev.QueuedAllocations = queued;
    if (Object.keys(failed).length > 0) {
      ev.FailedTGAllocs = failed;
      const blocked = this.newEval(rec, ev.TriggeredBy);
      blocked.Status = 'blocked';
      blocked.StatusDescription = 'created to place remaining allocations';
      blocked.PreviousEval = ev.ID;
      ev.BlockedEval = blocked.ID;
    }
    ev.Status = 'complete';
    rec.status = fitsAny(queued) ? 'running' : 'pending';
    this.bump(ev);
  }

  /** Nodes for `count` allocations, and the AllocationMetric of the last attempt (api/allocations.go). */
  private fit(job: JobIn, g: GroupIn, count: number): { nodes: FakeNode[]; metric: Record<string, unknown> } {
    const want = (g.Tasks ?? []).reduce((acc, t) => ({ cpu: acc.cpu + (t.Resources?.CPU ?? 100), mem: acc.mem + (t.Resources?.MemoryMB ?? 300) }), { cpu: 0, mem: 0 });
    const constraintFiltered: Record<string, number> = {};
    const dimensionExhausted: Record<string, number> = {};
    const eligible = this.nodes.filter((n) => {
      for (const c of job.Constraints ?? []) {
        if (!satisfies(n, c)) {
          const k = `${c.LTarget} ${c.Operand} ${c.RTarget}`;
          constraintFiltered[k] = (constraintFiltered[k] ?? 0) + 1;
          return false;
        }
      }
      return true;
    });
    const placed: FakeNode[] = [];
    let exhausted = 0;
    for (let i = 0; i < count; i++) {
      // allocations already chosen in this pass count against the node too
      const room = (node: FakeNode) => {
        const used = this.used(node);
        const k = placed.filter((p) => p === node).length + 1;
        return { mem: used.mem + k * want.mem <= node.memoryMB, cpu: used.cpu + k * want.cpu <= node.cpuMHz };
      };
      // spread: the least loaded node that fits, as Nomad's default binpack would not, to make node loss visible
      const load = (node: FakeNode) => placed.filter((p) => p === node).length + this.allocations().filter((a) => a.NodeID === node.ID && !isTerminal(a)).length;
      const n = eligible.filter((node) => room(node).mem && room(node).cpu).sort((x, y) => load(x) - load(y))[0];
      if (!n) {
        exhausted = 0;
        for (const node of eligible) {
          exhausted++;
          const dim = room(node).mem ? 'cpu' : 'memory';
          dimensionExhausted[dim] = (dimensionExhausted[dim] ?? 0) + 1;
        }
        break;
      }
      placed.push(n);
    }
    return {
      nodes: placed,
      metric: {
        NodesEvaluated: this.nodes.length,
        NodesFiltered: this.nodes.length - eligible.length,
        NodesInPool: this.nodes.length,
        NodePool: 'default',
        NodesAvailable: { dc1: this.nodes.length },
        ClassFiltered: null,
        ConstraintFiltered: Object.keys(constraintFiltered).length ? constraintFiltered : null,
        NodesExhausted: exhausted,
        ClassExhausted: null,
        DimensionExhausted: Object.keys(dimensionExhausted).length ? dimensionExhausted : null,
        QuotaExhausted: null,
        ResourcesExhausted: null,
        Scores: null,
        AllocationTime: 12345,
        ScoreMetaData: null,
      },
    };
  }

  private used(node: FakeNode): { cpu: number; mem: number } {
    let cpu = 0;
    let mem = 0;
    for (const a of this.allocs.values()) {
      if (a.NodeID !== node.ID || a.DesiredStatus !== 'run' || isTerminal(a)) continue;
      const rec = this.jobs.get(key(a.Namespace, a.JobID));
      const g = rec?.job.TaskGroups.find((x) => x.Name === a.TaskGroup);
      for (const t of g?.Tasks ?? []) {
        cpu += t.Resources?.CPU ?? 100;
        mem += t.Resources?.MemoryMB ?? 300;
      }
    }
    return { cpu, mem };
  }

  private newEval(rec: JobRec, trigger: string): Evaluation {
    this.index++;
    const ev: Evaluation = {
      ID: randomUUID(), Namespace: rec.namespace, Priority: 50, Type: rec.job.Type, TriggeredBy: trigger, JobID: rec.job.ID,
      Status: 'pending', StatusDescription: '', BlockedEval: '', PreviousEval: '', FailedTGAllocs: null, QueuedAllocations: null,
      CreateIndex: this.index, ModifyIndex: this.index,
    };
    this.evals.set(ev.ID, ev);
    this.wake();
    return ev;
  }

  private newAlloc(rec: JobRec, g: GroupIn, node: FakeNode, ev: Evaluation, name: string): Alloc {
    this.index++;
    const now = Date.now() * 1e6;
    const a: Alloc = {
      ID: randomUUID(), EvalID: ev.ID, Name: name, Namespace: rec.namespace, NodeID: node.ID, NodeName: node.Name, JobID: rec.job.ID,
      JobType: rec.job.Type, TaskGroup: g.Name, DesiredStatus: 'run', DesiredDescription: '', ClientStatus: 'pending', ClientDescription: '',
      TaskStates: null, FollowupEvalID: '', NextAllocation: '', PreviousAllocation: '', CreateIndex: this.index, ModifyIndex: this.index,
      CreateTime: now, ModifyTime: now,
    };
    this.allocs.set(a.ID, a);
    this.wake();
    if (this.opts.autoStart !== false) setTimeout(() => { if (a.ClientStatus === 'pending' && a.DesiredStatus === 'run') this.startAlloc(a.ID); }, 30);
    return a;
  }

  private mustAlloc(id: string): Alloc {
    const a = this.allocs.get(id);
    if (!a) throw new Error(`no allocation ${id}`);
    return a;
  }

  private touch(a: Alloc): void {
    this.index++;
    a.ModifyIndex = this.index;
    a.ModifyTime = Date.now() * 1e6;
    this.wake();
  }

  private bump(ev: Evaluation): void {
    this.index++;
    ev.ModifyIndex = this.index;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

function key(ns: string, id: string): string {
  return `${ns}/${id}`;
}

function isTerminal(a: Alloc): boolean {
  return a.ClientStatus === 'complete' || a.ClientStatus === 'failed' || a.ClientStatus === 'lost';
}

function fitsAny(queued: Record<string, number>): boolean {
  return Object.values(queued).every((n) => n === 0);
}

function satisfies(n: FakeNode, c: Constraint): boolean {
  const left = c.LTarget === '${attr.kernel.name}' ? n.kernel : c.LTarget;
  switch (c.Operand) {
    case '=': case '==': case 'is': return left === c.RTarget;
    case '!=': case 'not': return left !== c.RTarget;
    case 'regexp': return new RegExp(c.RTarget).test(left);
    default: return false;
  }
}

function event(type: string, message: string): TaskEvent {
  return { Type: type, Time: Date.now() * 1e6, DisplayMessage: message, Details: {}, ExitCode: 0 };
}

function jobInfo(rec: JobRec): Record<string, unknown> {
  return { ID: rec.job.ID, Name: rec.job.Name, Type: rec.job.Type, Namespace: rec.namespace, Status: rec.status, Stop: rec.stop, TaskGroups: rec.job.TaskGroups, ModifyIndex: rec.modifyIndex, JobModifyIndex: rec.modifyIndex };
}
