/**
 * The subset of Nomad's HTTP API vessel sends and reads, spelled as hashicorp/nomad's `api`
 * package marshals it (Go field names, time.Duration as integer nanoseconds):
 * api/jobs.go (Job, JobRegisterRequest/Response, JobDeregisterResponse), api/tasks.go (TaskGroup,
 * Task, RestartPolicy, ReschedulePolicy, Template, TaskState, TaskEvent), api/resources.go
 * (Resources, NetworkResource, Port), api/services.go (Service, ServiceCheck, CheckRestart),
 * api/constraint.go (Constraint), api/evaluations.go (Evaluation), api/allocations.go
 * (AllocationListStub, AllocationMetric).
 */

/** Go's time.Duration in JSON: nanoseconds. */
export type Nanoseconds = number;

export const SECOND: Nanoseconds = 1_000_000_000;

export interface NomadConstraint {
  LTarget: string;
  RTarget: string;
  Operand: string;
}

export interface NomadPort {
  Label: string;
  Value?: number;
  To?: number;
}

export interface NomadNetworkResource {
  Mode: string;
  DynamicPorts?: NomadPort[];
  ReservedPorts?: NomadPort[];
}

export interface NomadResources {
  CPU?: number;
  MemoryMB?: number;
}

export interface NomadRestartPolicy {
  Attempts: number;
  Interval: Nanoseconds;
  Delay: Nanoseconds;
  Mode: 'fail' | 'delay';
}

export interface NomadReschedulePolicy {
  Attempts: number;
  Interval: Nanoseconds;
  Delay?: Nanoseconds;
  DelayFunction?: 'constant' | 'exponential' | 'fibonacci';
  MaxDelay?: Nanoseconds;
  Unlimited: boolean;
}

export interface NomadTemplate {
  DestPath: string;
  EmbeddedTmpl: string;
  ChangeMode: string;
  Perms: string;
  LeftDelim: string;
  RightDelim: string;
}

export interface NomadCheckRestart {
  Limit: number;
  Grace: Nanoseconds;
}

export interface NomadServiceCheck {
  Name: string;
  Type: string;
  Command: string;
  Args: string[];
  Interval: Nanoseconds;
  Timeout: Nanoseconds;
  CheckRestart?: NomadCheckRestart;
}

export interface NomadService {
  Name: string;
  Provider: string;
  PortLabel?: string;
  Checks: NomadServiceCheck[];
}

export interface NomadTask {
  Name: string;
  Driver: string;
  Config: { command: string; args: string[] };
  Templates: NomadTemplate[];
  Resources: NomadResources;
  KillSignal: string;
  KillTimeout: Nanoseconds;
  Services?: NomadService[];
  Meta?: Record<string, string>;
}

export interface NomadTaskGroup {
  Name: string;
  Count: number;
  RestartPolicy: NomadRestartPolicy;
  ReschedulePolicy: NomadReschedulePolicy;
  Networks?: NomadNetworkResource[];
  Tasks: NomadTask[];
}

export interface NomadJob {
  ID: string;
  Name: string;
  Type: 'service' | 'batch';
  Datacenters: string[];
  Constraints: NomadConstraint[];
  TaskGroups: NomadTaskGroup[];
  Meta: Record<string, string>;
}

/** api/jobs.go JobRegisterRequest: the body of POST /v1/jobs. */
export interface NomadJobRegisterRequest {
  Job: NomadJob;
}

/** api/jobs.go JobRegisterResponse. */
export interface NomadJobRegisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Warnings?: string;
}

/** api/jobs.go JobDeregisterResponse. */
export interface NomadJobDeregisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
}

/** api/allocations.go AllocationMetric: why a task group could not be placed. */
export interface NomadAllocationMetric {
  NodesEvaluated: number;
  NodesFiltered: number;
  NodesInPool?: number;
  NodesAvailable?: Record<string, number> | null;
  ClassFiltered?: Record<string, number> | null;
  ConstraintFiltered?: Record<string, number> | null;
  NodesExhausted: number;
  ClassExhausted?: Record<string, number> | null;
  DimensionExhausted?: Record<string, number> | null;
  QuotaExhausted?: string[] | null;
  CoalescedFailures?: number;
}

/** api/evaluations.go Evaluation (the fields vessel reads). */
export interface NomadEvaluation {
  ID: string;
  JobID: string;
  Status: 'pending' | 'complete' | 'failed' | 'blocked' | 'canceled' | string;
  StatusDescription: string;
  TriggeredBy: string;
  BlockedEval: string;
  FailedTGAllocs: Record<string, NomadAllocationMetric> | null;
  QueuedAllocations?: Record<string, number> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** api/tasks.go TaskEvent (exit details live in Details since Nomad 0.11; ExitCode is the deprecated copy). */
export interface NomadTaskEvent {
  Type: string;
  Time: number;
  DisplayMessage?: string;
  Details?: Record<string, string> | null;
  ExitCode?: number;
  Signal?: number;
}

/** api/tasks.go TaskState. */
export interface NomadTaskState {
  State: 'pending' | 'running' | 'dead' | string;
  Failed: boolean;
  Restarts: number;
  Events: NomadTaskEvent[] | null;
}

/** api/allocations.go AllocationListStub. */
export interface NomadAllocationListStub {
  ID: string;
  EvalID: string;
  Name: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  TaskGroup: string;
  DesiredStatus: 'run' | 'stop' | 'evict' | string;
  DesiredDescription: string;
  ClientStatus: 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown' | string;
  ClientDescription: string;
  TaskStates: Record<string, NomadTaskState> | null;
  FollowupEvalID?: string;
  NextAllocation?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** api/jobs.go Job as GET /v1/job/:id returns it (the fields vessel reads). */
export interface NomadJobInfo {
  ID: string;
  Name: string;
  Type: string;
  Status: 'pending' | 'running' | 'dead' | string;
  Stop?: boolean;
}
