import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps a long transfer's memory flat. Every chunk a socket or a pipe delivers is a new Buffer
 * whose bytes live outside V8's heap; V8 collects them only when its young generation fills
 * with objects (a Buffer's handle is small) or when such external memory has grown by 64 MiB
 * (kExternalAllocationSoftLimit) — so a pull's memory grows by tens of MiB of dead chunks, and
 * more with several layers at once. A minor collection (a scavenge: about a millisecond here)
 * after every few MiB received frees them. V8's own `gc` function, exposed by its documented
 * --expose-gc flag, is the only way to ask for one.
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
