import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps a gzip layer's pull flat in memory. Every other layer is written once, from the
 * transport's reused buffers, to its blob file, which the gate reads itself (extractTarFollow);
 * but Node's zlib reads its input later, on its own thread (so it gets
 * a copy of every lent chunk), and hands out its output in new Buffers, which go on into the
 * gate's pipe: ~200 MB of short-lived Buffers per 100 MB. Their bytes live outside V8's heap; V8
 * collects them only when its young generation fills with objects (a Buffer's handle is small)
 * or when such external memory has grown by 64 MiB (kExternalAllocationSoftLimit) — measured: a
 * 100 MB gzip pull peaks at 94 MiB without this, ~65 MiB with it. A minor collection (a
 * scavenge: about a millisecond here) after every few MiB frees them; more often promotes pieces
 * still in flight to the old generation and makes it worse (1 MiB: 95–108 MiB, measured when
 * every layer's chunks were copied). V8's own `gc` function, exposed by its documented
 * --expose-gc flag, is the only way to ask for one; it is made (a new V8 context: ~15 ms) only
 * by the first gzip layer.
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

/** Bytes between two collections: the most dead pieces left lying around. */
const EVERY = 4 * 1024 * 1024;
let since = 0;

/** Count bytes made; collect the dead ones after every EVERY of them (all layers together). */
export function made(bytes: number): void {
  since += bytes;
  if (since < EVERY) return;
  since = 0;
  collector()({ type: 'minor' });
}
