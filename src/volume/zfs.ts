/**
 * Named volumes on a ZFS store (FreeBSD, VESSEL_ZFS_DATASET=POOL[/…]/vessel): one dataset per
 * volume, POOL/…/vessel/volumes/NAME, mounted where a directory volume would be, so a container
 * mounts it the same way (nullfs) and `zfs snapshot` / `zfs send` work on a volume alone.
 * The argv are rendered here (pure, checked against a golden transcript citing zfs(8)); store.ts
 * runs them.
 */

export function zfsVolumeDataset(store: string, name: string): string {
  return `${store}/volumes/${name}`;
}

/** zfs(8): `zfs list -H -o name filesystem` exits 1 when the dataset does not exist. */
export function zfsVolumeExists(dataset: string): string[] {
  return ['zfs', 'list', '-H', '-o', 'name', dataset];
}

/**
 * zfs(8): `zfs create [-p] [-o property=value]… filesystem` — `-p` creates the missing parents
 * (…/vessel/volumes on first use); `mountpoint` mounts it at once where containers look for it.
 */
export function zfsVolumeCreate(dataset: string, mountpoint: string): string[] {
  return ['zfs', 'create', '-p', '-o', `mountpoint=${mountpoint}`, dataset];
}

/**
 * zfs(8): `zfs destroy filesystem`. No -r: snapshots someone took of a volume are theirs, and
 * zfs refuses ("filesystem has children") instead of vessel destroying them silently.
 */
export function zfsVolumeDestroy(dataset: string): string[] {
  return ['zfs', 'destroy', dataset];
}
