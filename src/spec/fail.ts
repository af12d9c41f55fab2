import { VesselError } from '../util/index.js';

/**
 * Value parsers (sizes, volumes, ports …) know the reason a value is wrong but not where it
 * came from: they throw `invalid(reason)`, and the INI parser or the flag parser re-throws with
 * the location in front (`web.ini:7: [limits] memory: …` or `--memory: …`), keeping the hint.
 */
export function invalid(reason: string, hint?: string): never {
  throw new VesselError('E_SPEC', reason, hint === undefined ? {} : { hint });
}

/** Re-throw a value error with `where` (a file/line/section/key or a flag) in front. */
export function located<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VesselError && e.code === 'E_SPEC') {
      throw new VesselError('E_SPEC', `${where}: ${e.message}`, e.hint === undefined ? {} : { hint: e.hint });
    }
    throw e;
  }
}

/** `"64X"` — how a user's value is shown inside a message (JSON quoting keeps it on one line). */
export function show(value: string): string {
  return JSON.stringify(value);
}
