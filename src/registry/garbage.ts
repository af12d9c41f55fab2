import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps a long transfer's memory flat. S3, http(s) and sftp read into one reused buffer per
 * connection, but the unpacker keeps what it is given until tar has read it, so every chunk is
 * copied once into a new Buffer for it (and file://, ftp and OCI streams deliver new Buffers).
 * Their bytes live outside V8's heap; V8 collects them only when its young generation fills with
 * objects (a Buffer's handle is small) or when such external memory has grown by 64 MiB
 * (kExternalAllocationSoftLimit) — measured: a 100 MB pull peaks at 93 MiB without this, 67 MiB
 * with it, for ~10 ms. A minor collection (a scavenge: about a millisecond here) after every few
 * MiB received frees them; more often promotes chunks still in flight to the old generation and
 * makes it worse (1 MiB: 95–108 MiB). V8's own `gc` function, exposed by its documented
 * --expose-gc flag, is the only way to ask for one. An unpacker that took lent chunks (consumed or
 * copied before returning, e.g. written to a pipe at once) would leave no garbage and end this.
 */
type Gc = (opts: { type: 'minor' | 'major' }) => void;

let gc: Gc | undefined;

function collector(): Gc {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
  }
  return gc;
}

/** Bytes between two collections: the most dead chunks a transfer leaves lying around. */
const EVERY = 4 * 1024 * 1024;
let since = 0;

/** Count bytes received; collect the dead chunks after every EVERY of them (all transfers together). */
export function received(bytes: number): void {
  since += bytes;
  if (since < EVERY) return;
  since = 0;
  collector()({ type: 'minor' });
}
