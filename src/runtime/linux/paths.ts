import { containerLayout } from '../../util/index.js';

export { initBinary } from '../monitor-spawn.js';

/** Where the Linux driver keeps a container's layers and mount point (inside its directory). */
export function runPaths(dir: string) {
  return containerLayout(dir);
}
