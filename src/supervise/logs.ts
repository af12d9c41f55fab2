import { createReadStream, existsSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { config, containerPaths } from '../util/index.js';
import { isLive, readState } from './state.js';
import { mustState } from './control.js';

function copy(path: string, from: number, to: number): Promise<void> {
  if (to <= from) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const s = createReadStream(path, { start: from, end: to - 1 });
    s.on('error', reject);
    s.on('end', resolve);
    s.pipe(process.stdout, { end: false });
  });
}

export async function printLogs(name: string, follow: boolean): Promise<void> {
  await mustState(name);
  const path = containerPaths(config(), name).log;
  let pos = 0;
  for (;;) {
    const size = existsSync(path) ? statSync(path).size : 0;
    if (size < pos) pos = 0; // truncated
    await copy(path, pos, size);
    pos = size;
    if (!follow) return;
    const s = await readState(name);
    if (!s || !isLive(s)) {
      const end = existsSync(path) ? statSync(path).size : 0;
      await copy(path, pos, end);
      return;
    }
    await sleep(200);
  }
}
