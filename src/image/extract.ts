import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import tarStream from 'tar-stream';
import { host, type SpawnedProcess } from '../util/host.js';
import { VesselError, errorMessage } from '../util/errors.js';
import { waitDrain } from './streams.js';
import { EntryChecker, defaultLimits, type ExtractLimits } from './validate.js';
import type { Digest } from './types.js';

/**
 * Safe, streamed unpacking of one tar stream into a staging directory. The stream is teed into
 * a sha256 (the layer's diff id), the EntryChecker (the judge) and GNU tar (the writer). The
 * caller commits the directory only after this resolves, i.e. after every byte was read, every
 * entry accepted and tar exited 0; on any failure it rejects with one E_ARCHIVE line naming the
 * entry, after tar has been killed and has exited, so nothing writes into staging any more.
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

export function tarExtractArgv(dest: string, root: boolean): string[] {
  return [
    'tar', '-x', '-f', '-', '-C', dest,
    '--numeric-owner', '--same-permissions', root ? '--same-owner' : '--no-same-owner',
    // All xattrs (security.capability, user.*) but never overlay's own: an archive must not be
    // able to set redirects or opaque flags on a lower directory; vessel sets those itself.
    '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*',
    '--warning=no-unknown-keyword', '--warning=no-timestamp',
  ];
}

export async function extractTarStream(tar: Readable, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  // Read only on the success path; on an early failure nobody awaits it.
  opts.upstream?.catch(() => undefined);
  const root = isRoot();
  const checker = new EntryChecker({ ...defaultLimits(), ...opts.limits }, { allowDevices: root });
  const hash = createHash('sha256');
  let lastEntry: string | undefined;
  let rejection: VesselError | undefined;

  // The judge.
  const validator = tarStream.extract();
  let rejectNow!: () => void;
  const rejected = new Promise<void>((res) => { rejectNow = res; });
  validator.on('entry', (header, stream, next) => {
    lastEntry = header.name;
    const why = checker.check(header);
    if (why !== undefined) {
      rejection = new VesselError('E_ARCHIVE', `${opts.source}: entry "${header.name}": ${why}`);
      rejectNow();
      return;
    }
    // The parent reports errors; an entry stream destroyed with it must not throw on its own.
    stream.on('error', () => undefined);
    stream.on('end', () => next());
    stream.resume();
  });
  let validatorError: unknown;
  const validatorDone = new Promise<void>((res, rej) => {
    validator.once('finish', () => res());
    validator.on('error', (e: Error) => rej(e));
  });
  validatorDone.catch((e: unknown) => {
    validatorError = e;
    rejectNow();
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
      const vOk = validator.write(chunk);
      const tOk = tarOpen ? tarIn.write(chunk) : true;
      if (!vOk) await waitDrain(validator, rejected);
      if (!tOk && tarOpen) await waitDrain(tarIn, tarExit);
    }
  } catch (e) {
    readError = e;
  }

  const where = () => (lastEntry === undefined ? '' : ` (after entry "${lastEntry}")`);
  const fail = async (e: VesselError): Promise<never> => {
    child.kill('SIGKILL');
    // Stops the producer too (a decompressor blocked on a full pipe would never exit).
    tar.destroy();
    validator.destroy();
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
  validator.end(undefined as unknown as Buffer);
  await Promise.race([validatorDone.catch(() => undefined), rejected]);
  if (rejection) return fail(rejection);
  if (validatorError !== undefined) return fail(notTar(validatorError));
  if (tarOpen) tarIn.end();
  const { code, signal } = await tarExit;
  if (code !== 0) {
    const why = tarStderr.trim().split('\n').filter((l) => l && !/^tar: Exiting with failure/.test(l)).slice(-2).join(' | ');
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
