import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { host, type SpawnedProcess, VesselError, errorMessage } from '../util/index.js';
import { waitDrain } from './streams.js';
import { tarForms } from './tar-forms.js';
import { TarHeaderReader } from './tar-headers.js';
import { EntryChecker, defaultLimits, type ExtractLimits } from './validate.js';
import type { Digest } from './types.js';

/**
 * Safe, streamed unpacking of one tar stream into a staging directory. Each chunk is hashed (the
 * layer's diff id) and read by the header reader, whose every entry the EntryChecker judges,
 * *before* the chunk is passed on to tar (the writer): tar never receives the complete header
 * of a refused entry. The caller commits the directory only after this resolves, i.e. after every
 * byte was read, every entry accepted and tar exited 0; on any failure it rejects with one
 * E_ARCHIVE line naming the entry, after tar has been killed and has exited, so nothing writes
 * into staging any more.
 */
export interface ExtractOptions {
  /** What the user knows the stream as (file name, blob digest), for messages. */
  source: string;
  limits?: Partial<ExtractLimits>;
  /** Settles when the producer of `tar` has finished; its rejection explains a short stream. */
  upstream?: Promise<void>;
}

export interface ExtractResult {
  diffId: Digest;
  entries: number;
  /** Bytes of file content. */
  bytes: number;
  whiteouts: string[];
  opaqueDirs: string[];
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** The writer's argv: GNU tar on Linux, bsdtar on FreeBSD (tar-forms.ts). */
export function tarExtractArgv(dest: string, root: boolean): string[] {
  return tarForms().extract(dest, root);
}

export async function extractTarStream(tar: Readable, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  // Read only on the success path; on an early failure nobody awaits it.
  opts.upstream?.catch(() => undefined);
  const root = isRoot();
  const checker = new EntryChecker({ ...defaultLimits(), ...opts.limits }, { allowDevices: root });
  const hash = createHash('sha256');
  let lastEntry: string | undefined;
  let rejection: VesselError | undefined;

  // The judge: every header, checked as it streams past.
  let validatorError: unknown;
  const reader = new TarHeaderReader((header) => {
    if (rejection) return;
    lastEntry = header.name;
    const why = checker.check(header);
    if (why !== undefined) rejection = new VesselError('E_ARCHIVE', `${opts.source}: entry "${header.name}": ${why}`);
  });

  // The writer.
  const child: SpawnedProcess = host().spawn(tarExtractArgv(dest, root), { stdio: ['pipe', 'ignore', 'pipe'] });
  const tarIn = child.pipes[0] as Writable;
  let tarStderr = '';
  (child.pipes[2] as Readable).setEncoding('utf8');
  (child.pipes[2] as Readable).on('data', (s: string) => {
    if (tarStderr.length < 8192) tarStderr += s;
  });
  let tarOpen = true;
  // tar stops reading at its end-of-archive blocks and may exit before we stop writing.
  tarIn.on('error', () => { tarOpen = false; });
  const tarExit = child.exited;
  void tarExit.then(() => { tarOpen = false; }, () => { tarOpen = false; });

  let readError: unknown;
  try {
    for await (const chunk of tar as AsyncIterable<Buffer>) {
      if (rejection || validatorError !== undefined) break;
      hash.update(chunk);
      try {
        reader.write(chunk);
      } catch (e) {
        validatorError = e;
        break;
      }
      if (rejection) break;
      if (tarOpen && !tarIn.write(chunk)) await waitDrain(tarIn, tarExit);
    }
  } catch (e) {
    readError = e;
  }

  const where = () => (lastEntry === undefined ? '' : ` (after entry "${lastEntry}")`);
  const fail = async (e: VesselError): Promise<never> => {
    child.kill('SIGKILL');
    // Stops the producer too (a decompressor blocked on a full pipe would never exit).
    tar.destroy();
    await tarExit.catch(() => undefined);
    throw e;
  };
  if (rejection) return fail(rejection);
  const notTar = (e: unknown) => new VesselError('E_ARCHIVE', `${opts.source}: not a valid tar stream: ${errorMessage(e)}${where()}`);
  if (validatorError !== undefined) return fail(notTar(validatorError));
  const upstreamError = opts.upstream ? await opts.upstream.then(() => undefined, (e: unknown) => e) : undefined;
  if (upstreamError !== undefined || readError !== undefined) {
    const why = errorMessage(upstreamError ?? readError);
    return fail(new VesselError('E_ARCHIVE', `${opts.source}: truncated or corrupt: ${why}${where()}`));
  }
  try {
    reader.end();
  } catch (e) {
    return fail(notTar(e));
  }
  if (tarOpen) tarIn.end();
  const { code, signal } = await tarExit;
  if (code !== 0) {
    const why = tarStderr.trim().split('\n').filter((l) => l && !/^tar: (Exiting with failure|Error exit delayed)/.test(l)).slice(-2).join(' | ');
    throw new VesselError('E_ARCHIVE', `${opts.source}: tar could not unpack it: ${why || (signal ? `killed by ${signal}` : `exit ${code}`)}`);
  }
  return {
    diffId: `sha256:${hash.digest('hex')}`,
    entries: checker.entries,
    bytes: checker.bytes,
    whiteouts: checker.whiteouts,
    opaqueDirs: checker.opaqueDirs,
  };
}
