import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { host, stderrOf, type SpawnedProcess, VesselError, errorMessage } from '../util/index.js';
import { waitDrain } from './streams.js';
import { TarHeaderReader, printableName, printableText } from './tar-headers.js';
import { tarForms } from './tar-forms.js';
import { EntryChecker, defaultLimits, type ExternalLink, type ExtractLimits } from './validate.js';
import type { Digest } from './types.js';

/**
 * Safe, streamed unpacking of one tar stream into a staging directory, in one pass: each chunk
 * is hashed (the layer's diff id) and read by the header reader, whose every entry the
 * EntryChecker judges *before* the chunk is handed to the host's tar (the writer): tar never
 * receives the header of a refused entry. No data byte is copied or buffered on the way — the
 * chunks tar gets are the ones read. The caller commits the directory only after this resolves,
 * i.e. after every byte was read, every entry accepted and tar exited 0; on any failure it
 * rejects with one E_ARCHIVE line naming the entry (escaped: never raw bytes), after tar has
 * been killed and has exited, so nothing writes into staging any more.
 */
export interface ExtractOptions {
  /** What the user knows the stream as (file name, blob digest), for messages. */
  source: string;
  limits?: Partial<ExtractLimits>;
  /** Settles when the producer of `tar` has finished; its rejection explains a short stream. */
  upstream?: Promise<void>;
  /**
   * The stream is a layer above others (OCI layers are diffs): a hard link to a file it does not
   * hold is unpacked as a placeholder and listed in the result, for linkLowerFiles() to fill in.
   * Otherwise such a link is refused.
   */
  externalLinks?: boolean;
  /**
   * The diff id is known without hashing again (an uncompressed blob, whose digest the caller
   * checks): asked once the stream has ended.
   */
  knownDiffId?: () => Digest;
}

export interface ExtractResult {
  diffId: Digest;
  entries: number;
  /** Bytes of file content. */
  bytes: number;
  whiteouts: string[];
  opaqueDirs: string[];
  externalLinks: ExternalLink[];
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export async function extractTarStream(tar: Readable, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  // Read only on the success path; on an early failure nobody awaits it.
  opts.upstream?.catch(() => undefined);
  const root = isRoot();
  const checker = new EntryChecker({ ...defaultLimits(), ...opts.limits }, { allowDevices: root, externalLinks: opts.externalLinks ?? false });
  const hash = opts.knownDiffId ? undefined : createHash('sha256');
  let lastEntry: string | undefined;
  let rejection: VesselError | undefined;

  // The judge: every header, checked as it streams past.
  const reader = new TarHeaderReader((header) => {
    lastEntry = header.name;
    const v = checker.check(header);
    if (v !== undefined && typeof v === 'object') rejection = new VesselError('E_ARCHIVE', `${opts.source}: entry "${printableName(header.name)}": ${v.refuse}`);
    return v;
  });

  // The writer: GNU tar on Linux, bsdtar on FreeBSD (tar-forms.ts).
  const child: SpawnedProcess = host().spawn(tarForms().extract(dest, root), { stdio: ['pipe', 'ignore', 'pipe'] });
  const tarIn = child.pipes[0] as Writable;
  const tarStderr = stderrOf(child);
  let tarOpen = true;
  // tar stops reading at its end-of-archive blocks and may exit before we stop writing.
  tarIn.on('error', () => { tarOpen = false; });
  const tarExit = child.exited;
  void tarExit.then(() => { tarOpen = false; }, () => { tarOpen = false; });

  let readError: unknown;
  let validatorError: unknown;
  await new Promise<void>((resolve) => {
    let settled = false;
    let blocked = false;
    const done = () => {
      if (settled) return;
      settled = true;
      tar.removeListener('data', onData);
      resolve();
    };
    const pass = (b: Buffer) => {
      if (tarOpen && !tarIn.write(b)) blocked = true;
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      hash?.update(chunk);
      try {
        reader.write(chunk, pass);
      } catch (e) {
        validatorError = e;
        return done();
      }
      if (rejection) return done();
      if (blocked) {
        blocked = false;
        tar.pause();
        void waitDrain(tarIn, tarExit).then(() => { if (!settled) tar.resume(); });
      }
    };
    tar.on('data', onData);
    tar.once('end', done);
    tar.once('error', (e) => { readError ??= e; done(); });
    tar.once('close', () => {
      if (!settled && !tar.readableEnded) readError ??= new Error('the stream stopped early');
      done();
    });
  });

  const where = () => (lastEntry === undefined ? '' : ` (after entry "${printableName(lastEntry)}")`);
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
    // The last words that say why, not GNU tar's "Exiting with failure" or bsdtar's "Error exit delayed".
    await tarStderr.done();
    const why = tarStderr.lines(4).filter((l) => !/^(bsd)?tar: (Exiting with failure|Error exit delayed)/.test(l)).slice(-2).join(' | ');
    throw new VesselError('E_ARCHIVE', `${opts.source}: tar could not unpack it: ${printableText(why) || (signal ? `killed by ${signal}` : `exit ${code}`)}`);
  }
  return {
    diffId: hash ? `sha256:${hash.digest('hex')}` : opts.knownDiffId!(),
    entries: checker.entries,
    bytes: checker.bytes,
    whiteouts: checker.whiteouts,
    opaqueDirs: checker.opaqueDirs,
    externalLinks: checker.externalLinks,
  };
}
