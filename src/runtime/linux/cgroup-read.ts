import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A cgroup file's text; undefined when the directory or the file is not there. */
export function read(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}
