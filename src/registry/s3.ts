import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type * as Sdk from '@aws-sdk/client-s3';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { VesselError, errorMessage } from '../util/index.js';
import type { RegistryUrl } from './url.js';
import type { ObjectStat, Transport } from './transport.js';

type S3Url = Extract<RegistryUrl, { scheme: 's3' }>;

/**
 * The SDK through require(), not import(): a CommonJS package imported from ES modules is first
 * scanned for its export names (cjs-module-lexer over the SDK's whole bundle) — a third of its
 * load time, paid at the start of every pull and publish.
 */
const load = createRequire(import.meta.url);
const { S3Client: Client, HeadObjectCommand, GetObjectCommand, ListObjectsV2Command, DeleteObjectCommand, PutObjectCommand } = load('@aws-sdk/client-s3') as typeof Sdk;

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

export class S3Transport implements Transport {
  readonly display: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(u: S3Url) {
    this.display = u.display;
    // The SDK warns on stderr, once per process, that future releases will need Node 22; vessel
    // supports Node 20 and pins the SDK. The SDK's own switch turns it off; a user's setting wins.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new Client(s3ClientConfig(u));
    this.bucket = u.bucket;
    this.prefix = u.prefix ? `${u.prefix.replace(/\/+$/, '')}/` : '';
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

  async stat(key: string): Promise<ObjectStat | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
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

  async get(key: string, opts: { offset?: number } = {}): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), ...(opts.offset ? { Range: `bytes=${opts.offset}-` } : {}) }));
      return r.Body as Readable;
    } catch (e) {
      const a = e as AwsError;
      if (a.name === 'NoSuchKey') throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
      throw this.fail(`GET ${key}`, e);
    }
  }

  async put(key: string, body: Readable, size?: number): Promise<void> {
    if (size !== undefined && size <= multipartThreshold()) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: body, ContentLength: size, ContentType: 'application/octet-stream' }));
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
        r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(prefix), ...(token ? { ContinuationToken: token } : {}) }));
      } catch (e) {
        throw this.fail(`LIST ${prefix}`, e);
      }
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key.slice(this.prefix.length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
