import { join } from 'node:path';
import { config, containerLayout } from '../../util/index.js';

/** Where the Linux driver keeps a container's layers and mount point (inside its directory). */
export function runPaths(dir: string) {
  return containerLayout(dir);
}

export function initBinary(): string {
  return join(config().libexec, 'vessel-init');
}
