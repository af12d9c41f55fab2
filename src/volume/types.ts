/** A named volume as recorded in $VESSEL_ROOT/volumes/NAME/volume.json. */
export interface VolumeRecord {
  name: string;
  /** `local`: a directory under the state root; `zfs`: a dataset mounted there (FreeBSD ZFS store). */
  driver: 'local' | 'zfs';
  /** The dataset, for the zfs driver. */
  dataset?: string;
  createdAt: string;
  /** `volume create`, or the first container that mounted it. */
  createdBy: 'volume create' | 'first use';
}

export interface VolumeInfo extends VolumeRecord {
  /** The directory containers see (what is bind / nullfs mounted). */
  mountpoint: string;
  /** Containers (running or stopped) whose spec mounts it. */
  usedBy: string[];
}

/**
 * Which container mounts which named volume, as their supervisors recorded them. The volume store
 * never reads containers' state files itself (they are supervise's): the caller hands this in,
 * as it does for the image store (image/users.ts).
 */
export type VolumeUsers = () => Promise<ReadonlyArray<{ name: string; volumes: readonly string[] }>>;
