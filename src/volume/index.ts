/** Named volumes: created on first use (or by `vessel volume create`), kept until `volume rm|prune`. */
export type * from './types.js';
export {
  ensureVolume,
  readVolume,
  listVolumes,
  listVolumeInfo,
  inspectVolume,
  removeVolume,
  pruneVolumes,
  volumeMountpoint,
  volumesDir,
  type CreateOptions,
} from './store.js';
export { zfsVolumeDataset, zfsVolumeCreate, zfsVolumeDestroy, zfsVolumeExists } from './zfs.js';
