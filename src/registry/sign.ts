import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { VesselError, errorMessage, hasErrno } from '../util/index.js';
import type { Digest } from '../image/index.js';

/**
 * Detached Ed25519 signatures over a manifest digest. The signed message is the digest text
 * ("sha256:<hex>"): the manifest names the config and every layer by digest, so signing it
 * vouches for every byte of the image. Keys are PEM (PKCS#8 private, SPKI public), as
 * `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write them.
 */
export const SIGNATURE_SCHEMA = 'vessel.signature.v1';

export interface SignatureDoc {
  schema: typeof SIGNATURE_SCHEMA;
  digest: Digest;
  /** sha256 of the public key's DER, to say which key signed. */
  keyId: string;
  signature: string;
}

function readKeyFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new VesselError('E_USAGE', `${what} ${file}: no such file`);
    throw new VesselError('E_USAGE', `${what} ${file}: ${errorMessage(e)}`);
  }
}

function ed25519(key: KeyObject, file: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new VesselError('E_USAGE', `${file}: a ${key.asymmetricKeyType ?? 'unknown'} key; vessel signs with Ed25519`, { hint: 'openssl genpkey -algorithm ed25519 -out key.pem' });
  }
  return key;
}

export function loadPrivateKey(file: string): KeyObject {
  const pem = readKeyFile(file, '--sign');
  try {
    return ed25519(createPrivateKey(pem), file);
  } catch (e) {
    if (e instanceof VesselError) throw e;
    throw new VesselError('E_USAGE', `--sign ${file}: not a PEM private key (${errorMessage(e)})`, { hint: 'openssl genpkey -algorithm ed25519 -out key.pem' });
  }
}

export function loadPublicKey(file: string): KeyObject {
  const pem = readKeyFile(file, '--verify');
  try {
    return ed25519(createPublicKey(pem), file);
  } catch (e) {
    if (e instanceof VesselError) throw e;
    throw new VesselError('E_USAGE', `--verify ${file}: not a PEM public key (${errorMessage(e)})`, { hint: 'openssl pkey -in key.pem -pubout -out key.pub' });
  }
}

export function keyId(pub: KeyObject): string {
  return `sha256:${createHash('sha256').update(pub.export({ format: 'der', type: 'spki' })).digest('hex')}`;
}

export function signDigest(digest: Digest, key: KeyObject): string {
  const doc: SignatureDoc = {
    schema: SIGNATURE_SCHEMA,
    digest,
    keyId: keyId(createPublicKey(key)),
    signature: sign(null, Buffer.from(digest), key).toString('base64'),
  };
  return JSON.stringify(doc) + '\n';
}

/** Throws unless `docText` is a valid signature of `digest` by `pub`. */
export function verifyDigest(what: string, digest: Digest, docText: string | undefined, pub: KeyObject): void {
  if (docText === undefined) {
    throw new VesselError('E_REGISTRY', `${what}: not signed (manifest ${digest}); refusing it because --verify was given`);
  }
  let doc: SignatureDoc;
  try {
    doc = JSON.parse(docText) as SignatureDoc;
  } catch {
    throw new VesselError('E_REGISTRY', `${what}: signature of ${digest} is not valid JSON; refusing it`);
  }
  if (doc.schema !== SIGNATURE_SCHEMA || doc.digest !== digest || typeof doc.signature !== 'string') {
    throw new VesselError('E_REGISTRY', `${what}: signature does not name manifest ${digest}; refusing it`);
  }
  const ok = verify(null, Buffer.from(digest), pub, Buffer.from(doc.signature, 'base64'));
  if (!ok) {
    throw new VesselError('E_REGISTRY', `${what}: signature of ${digest} does not verify with the given public key (signed by ${doc.keyId}, expected ${keyId(pub)}); refusing it`);
  }
}
