import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type * as Sdk from '@aws-sdk/client-s3';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { VesselError, errorMessage } from '../util/index.js';
import { abortable, pumpStream, type ChunkSink, type ObjectStat, type ReadOptions, type Transport } from './transport.js';
import { HttpClient, originOf, type Response } from './http1.js';
import { TransientError } from './retry.js';
import { readAwsFiles, resolveS3, s3Target, type S3Plan, type S3Url } from './s3-config.js';
import { signV4, type AwsCredentials } from './s3-sign.js';

/**
 * The SDK through require(), not import(): a CommonJS package imported from ES modules is first
 * scanned for its export names (cjs-module-lexer over the SDK's whole bundle) — a third of its
 * load time. And only when a request needs it: pulls (HEAD and GET) go through the small signed
 * client below, so a pull never loads it unless its configuration is one s3-config.ts leaves to
 * the SDK; publish, tags and deletes use it.
 */
const load = createRequire(import.meta.url);
const sdk = (): typeof Sdk => load('@aws-sdk/client-s3') as typeof Sdk;

/** lib-storage buffers queueSize parts: 4 × 8 MiB bounds a multipart upload's memory (awscli's part size too). */
const PART_SIZE = 8 * 1024 * 1024;

/**
 * Objects up to this size go up as one streamed PutObject (rclone's default cut-off too): nothing
 * is buffered, so memory stays flat, and the server does not have to stitch parts together.
 * Larger ones (or unknown sizes) go multipart, where lib-storage buffers one part per queue slot.
 * VESSEL_S3_MULTIPART_THRESHOLD (bytes) changes it.
 */
function multipartThreshold(): number {
  const v = Number(process.env.VESSEL_S3_MULTIPART_THRESHOLD);
  return Number.isFinite(v) && v > 0 ? v : 200 * 1024 * 1024;
}

/**
 * The SDK's own configuration chain, unchanged: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
 * AWS_REGION, credentials and profiles from the environment and ~/.aws. Only what a custom
 * endpoint needs is added: path-style addressing (no bucket DNS names on 127.0.0.1, Ceph, MinIO)
 * and a region default. Checksums only when required: s3rver corrupts streamed bodies sent with
 * the SDK's default CRC trailers, and S3-compatible servers vary in supporting them.
 */
export function s3ClientConfig(u: S3Url, env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const endpoint = u.params.endpoint;
  const custom = Boolean(endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL);
  const region = u.params.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (custom ? 'us-east-1' : undefined);
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    forcePathStyle: u.params.pathStyle !== undefined ? u.params.pathStyle !== '0' && u.params.pathStyle !== 'false' : custom,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
  };
}

interface AwsError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The S3 error code of an error response's XML body (<Error><Code>…</Code>). */
function errorCode(body: string): string {
  return /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1] ?? '';
}

export class S3Transport implements Transport {
  readonly display: string;
  private readonly cfg: S3ClientConfig;
  private sdkClient: S3Client | undefined;
  private readonly bucket: string;
  private readonly prefix: string;
  /** The small client's plan; undefined: the SDK does every request (s3-config.ts says when). */
  private readonly plan: S3Plan | undefined;
  private readonly noRegion: boolean;
  private readonly http = new HttpClient();
  private chain: (() => Promise<AwsCredentials>) | undefined;
  /** Server time minus ours, learned from a RequestTimeTooSkewed answer (as the SDK corrects its clock). */
  private skewMs = 0;

  constructor(u: S3Url) {
    this.display = u.display;
    this.cfg = s3ClientConfig(u);
    this.bucket = u.bucket;
    this.prefix = u.prefix ? `${u.prefix.replace(/\/+$/, '')}/` : '';
    const r = resolveS3(u, { ...(this.cfg.endpoint ? { endpoint: String(this.cfg.endpoint) } : {}), ...(typeof this.cfg.region === 'string' ? { region: this.cfg.region } : {}), forcePathStyle: this.cfg.forcePathStyle === true }, process.env, readAwsFiles());
    this.plan = 'plan' in r ? r.plan : undefined;
    this.noRegion = 'error' in r;
  }

  /** The SDK's client, made on first use. */
  private get client(): S3Client {
    if (!this.sdkClient) {
      // The SDK warns on stderr, once per process, that future releases will need Node 22; vessel
      // supports Node 20 and pins the SDK. The SDK's own switch turns it off; a user's setting wins.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      this.sdkClient = new (sdk().S3Client)(this.cfg);
    }
    return this.sdkClient;
  }

  private key(k: string): string {
    return this.prefix + k;
  }

  /** AWS errors as vessel errors, for the ones retrying cannot fix. */
  private fail(what: string, e: unknown): unknown {
    const a = e as AwsError;
    // HEAD answers carry no error body: the SDK names those "Unknown"; the status says more.
    const code = a.name && a.name !== 'Unknown' ? a.name : a.Code ?? '';
    const status = a.$metadata?.httpStatusCode;
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'CredentialsProviderError'].includes(code) || status === 403) {
      return new VesselError('E_REGISTRY', `${this.display}: ${what}: access denied (${code || `HTTP ${status}`})`, {
        hint: 'check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE) for this bucket',
        cause: e,
      });
    }
    if (code === 'NoSuchBucket') return new VesselError('E_REGISTRY', `${this.display}: bucket "${this.bucket}" does not exist`, { hint: 'create it first (aws s3 mb)', cause: e });
    if (/Region is missing/i.test(errorMessage(e))) return new VesselError('E_REGISTRY', `${this.display}: no AWS region configured`, { hint: 'set AWS_REGION or add ?region=… to the URL', cause: e });
    return e;
  }

  /** Credentials for a signed request: the plan's plain keys, or the SDK's provider chain's. */
  private async credentials(): Promise<AwsCredentials> {
    if (this.plan?.credentials) return this.plan.credentials;
    if (!this.chain) {
      const { defaultProvider } = load('@aws-sdk/credential-provider-node') as typeof import('@aws-sdk/credential-provider-node');
      const provider = defaultProvider();
      this.chain = async () => {
        const c = await provider();
        return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
      };
    }
    try {
      return await this.chain();
    } catch (e) {
      throw this.fail('credentials', e);
    }
  }

  private noRegionError(): VesselError {
    return new VesselError('E_REGISTRY', `${this.display}: no AWS region configured`, { hint: 'set AWS_REGION or add ?region=… to the URL' });
  }

  /**
   * One signed request of the small client; a clock the server finds skewed is corrected once.
   * `signal` stops it, the body's transfer included (http1.ts), and the wait for credentials
   * from the SDK's chain (a credential process, instance metadata) too.
   */
  private async send(plan: S3Plan, method: 'GET' | 'HEAD', key: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    const t = s3Target(plan);
    const path = t.pathOf(this.key(key));
    const origin = originOf(t.url);
    const host = t.url.host;
    for (let attempt = 0; ; attempt++) {
      const creds = await abortable(this.credentials(), signal);
      const signed = signV4({ method, host, path, headers, region: plan.region, date: new Date(Date.now() + this.skewMs) }, creds);
      const r = await this.http.request(origin, method, path, { ...headers, ...signed }, signal);
      if (r.status !== 403 || attempt > 0 || method === 'HEAD' || !r.headers.date) return r;
      const body = (await r.read(64 * 1024)).toString('utf8');
      if (errorCode(body) !== 'RequestTimeTooSkewed') return Object.assign(r, { errorBody: body });
      this.skewMs = Date.parse(r.headers.date) - Date.now();
    }
  }

  /** A failed answer of the small client as the error the SDK path gives for the same answer. */
  private async answerError(what: string, r: Response & { errorBody?: string }): Promise<Error> {
    const body = r.errorBody ?? (r.status >= 300 ? (await r.read(64 * 1024).catch(() => Buffer.alloc(0))).toString('utf8') : '');
    const code = errorCode(body);
    if (r.status >= 500 || r.status === 429 || code === 'SlowDown') return new TransientError(`${this.display}: ${what}: ${code || `HTTP ${r.status}`}`);
    if (r.status === 301 || r.status === 307 || code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed') {
      const region = r.headers['x-amz-bucket-region'];
      if (region) {
        return new VesselError('E_REGISTRY', `${this.display}: bucket "${this.bucket}" is in region ${region}, not ${this.plan?.region}`, { hint: `add ?region=${region} to the URL or set AWS_REGION` });
      }
    }
    const known = this.fail(what, { name: code || undefined, $metadata: { httpStatusCode: r.status } });
    if (known instanceof Error) return known;
    const message = /<Message>([^<]{1,200})<\/Message>/.exec(body)?.[1];
    return new VesselError('E_REGISTRY', `${this.display}: ${what}: ${code || `HTTP ${r.status}`}${message ? ` (${message})` : ''}`);
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    if (this.noRegion) throw this.noRegionError();
    if (this.plan) {
      const r = await this.send(this.plan, 'HEAD', key);
      r.discard();
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw await this.answerError(`HEAD ${key}`, r);
      const len = Number(r.headers['content-length']);
      return { size: Number.isFinite(len) ? len : 0 };
    }
    try {
      const r = await this.client.send(new (sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.key(key) }));
      return { size: r.ContentLength ?? 0 };
    } catch (e) {
      const a = e as AwsError;
      if (a.name === 'NotFound' || a.name === 'NoSuchKey' || a.$metadata?.httpStatusCode === 404) {
        // A missing bucket also answers 404 to HEAD object; say so instead of "not there".
        if (a.name !== 'NoSuchKey' && a.name !== 'NotFound') throw this.fail(`HEAD ${key}`, e);
        return undefined;
      }
      throw this.fail(`HEAD ${key}`, e);
    }
  }

  /** A GET of the small client whose answer is the object (from `offset`): 200, or 206 to a Range. */
  private async open(plan: S3Plan, key: string, offset: number, signal: AbortSignal | undefined): Promise<Response> {
    const r = await this.send(plan, 'GET', key, offset > 0 ? { range: `bytes=${offset}-` } : {}, signal);
    if (r.status === 200 || r.status === 206) {
      // S3 honours Range; a 200 to one would hand us the object from its start.
      if (offset > 0 && r.status !== 206) {
        r.discard();
        throw new VesselError('E_REGISTRY', `${this.display}: ${key}: the server ignored the Range of a resumed download`);
      }
      return r;
    }
    if (r.status === 404) {
      // The missing bucket is said so; anything else missing is the object (E_NOT_FOUND: absent).
      const code = errorCode((await r.read(64 * 1024).catch(() => Buffer.alloc(0))).toString('utf8'));
      if (code === 'NoSuchBucket') throw this.fail(`GET ${key}`, { name: code });
      throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    }
    throw await this.answerError(`GET ${key}`, r);
  }

  async pump(key: string, sink: ChunkSink, opts: ReadOptions = {}): Promise<void> {
    if (this.noRegion) throw this.noRegionError();
    if (!this.plan) return pumpStream(await this.get(key, opts), sink, opts.signal);
    return (await this.open(this.plan, key, opts.offset ?? 0, opts.signal)).pump(sink);
  }

  async get(key: string, opts: ReadOptions = {}): Promise<Readable> {
    if (this.noRegion) throw this.noRegionError();
    if (this.plan) return (await this.open(this.plan, key, opts.offset ?? 0, opts.signal)).stream();
    try {
      const cmd = new (sdk().GetObjectCommand)({ Bucket: this.bucket, Key: this.key(key), ...(opts.offset ? { Range: `bytes=${opts.offset}-` } : {}) });
      // The SDK's abortSignal covers the request; the body it hands back is pumped with the signal.
      const r = await this.client.send(cmd, opts.signal ? { abortSignal: opts.signal } : {});
      return r.Body as Readable;
    } catch (e) {
      opts.signal?.throwIfAborted();
      const a = e as AwsError;
      if (a.name === 'NoSuchKey') throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
      throw this.fail(`GET ${key}`, e);
    }
  }

  async put(key: string, body: Readable, size?: number): Promise<void> {
    if (size !== undefined && size <= multipartThreshold()) {
      try {
        await this.client.send(new (sdk().PutObjectCommand)({ Bucket: this.bucket, Key: this.key(key), Body: body, ContentLength: size, ContentType: 'application/octet-stream' }));
      } catch (e) {
        body.destroy();
        throw this.fail(`PUT ${key}`, e);
      }
      return;
    }
    // lib-storage is loaded only for the rare blob above the threshold (start-up time).
    const { Upload } = load('@aws-sdk/lib-storage') as typeof import('@aws-sdk/lib-storage');
    // Multipart for large blobs, one PutObject for small ones; the object appears only when the
    // upload completes, and a failed one is aborted, so no half blob is ever visible.
    const up = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(key), Body: body, ContentType: 'application/octet-stream' },
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
    });
    try {
      await up.done();
    } catch (e) {
      throw this.fail(`PUT ${key}`, e);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.client.send(new (sdk().ListObjectsV2Command)({ Bucket: this.bucket, Prefix: this.key(prefix), ...(token ? { ContinuationToken: token } : {}) }));
      } catch (e) {
        throw this.fail(`LIST ${prefix}`, e);
      }
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key.slice(this.prefix.length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new (sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: this.key(key) }));
  }

  async close(): Promise<void> {
    this.http.close();
    this.sdkClient?.destroy();
  }
}
