import { join } from 'node:path';
import { containerLayout } from '../../util/index.js';

export { initBinary } from '../monitor-spawn.js';

/** Where the Linux driver keeps a container's layers and mount point (inside its directory). */
export function runPaths(dir: string, layerDir?: string) {
  const paths = containerLayout(dir);
  if (layerDir === undefined) return paths;
  return { ...paths, upper: join(layerDir, 'upper'), work: join(layerDir, 'work') };
}
