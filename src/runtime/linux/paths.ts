import { join } from 'node:path';
import { config } from '../../util/index.js';

/** Where the Linux driver keeps a container's layers and mount point (inside its directory). */
export function runPaths(dir: string) {
  return {
    rootfs: join(dir, 'rootfs'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    scratch: join(dir, 'scratch'),
    initConfig: join(dir, 'init.conf'),
  };
}

export function initBinary(): string {
  return join(config().libexec, 'vessel-init');
}
