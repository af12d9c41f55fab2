/**
 * The one error type of vessel. Every failure a user can cause or meet carries a stable code,
 * a one-line message that names the file/key/entry and the reason, and optionally a hint.
 * The CLI prints `vessel: <message>` (+ hint) and exits with `exitCode`, following docker's
 * conventions: 125 vessel itself failed, 126 the command cannot be run, 127 it was not found.
 */
export type ErrorCode =
  | 'E_USAGE' // bad flag or argument
  | 'E_SPEC' // bad container spec (INI or flags)
  | 'E_CONFIG' // bad vessel configuration
  | 'E_NOT_FOUND' // container, image, network … does not exist
  | 'E_EXISTS' // name already taken
  | 'E_IN_USE' // resource still referenced (image used by a container, network with members)
  | 'E_LOCKED' // another vessel process holds the lock
  | 'E_IMAGE' // image store problem
  | 'E_ARCHIVE' // corrupt, truncated or malicious archive
  | 'E_HOST' // a host command failed
  | 'E_RUNTIME' // the container could not be created or started
  | 'E_STATE' // state on disk is unreadable or inconsistent
  | 'E_NETWORK'
  | 'E_REGISTRY'
  | 'E_CLUSTER'
  | 'E_UNSUPPORTED' // the host (kernel, OS, module) lacks what is asked
  | 'E_INTERRUPTED' // the caller stopped the command (Ctrl-C of a command vessel up served): 130 as for SIGINT
  | 'E_CANNOT_RUN' // 126
  | 'E_CMD_NOT_FOUND'; // 127

export class VesselError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VesselError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode =
      opts.exitCode ?? (code === 'E_CANNOT_RUN' ? 126 : code === 'E_CMD_NOT_FOUND' ? 127 : code === 'E_INTERRUPTED' ? 130 : 125);
  }
}

export function isVesselError(e: unknown): e is VesselError {
  return e instanceof VesselError;
}

/** The message of anything thrown, without a stack: for one-line reports. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** True when a Node fs error has the given errno code (ENOENT, EEXIST …). */
export function hasErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}
