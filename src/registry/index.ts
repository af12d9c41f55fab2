/** What the rest of vessel (the CLI) may use of registries. */
export { parseRegistryUrl, parseImageLocation, redact, type RegistryUrl, type ImageLocation, type Scheme } from './url.js';
export type { Transport, Registry, FetchedManifest, ObjectStat } from './transport.js';
export { DumbRegistry, keys as layoutKeys } from './layout.js';
export { openRegistry } from './open.js';
export { publish, remoteName, type PublishOptions, type PublishResult } from './publish.js';
export { pull, type PullOptions, type PullResult } from './pull.js';
export { withRetry, isTransient } from './retry.js';
export { makeReporter, renderBar, type Reporter, type ProgressEvent } from './progress.js';
export { signDigest, verifyDigest, loadPrivateKey, loadPublicKey, keyId } from './sign.js';
export { ZfsRegistry } from './zfs.js';
