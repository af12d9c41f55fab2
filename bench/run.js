// `npm run bench`: every benchmark in this folder, one after the other (or those named).
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const all = readdirSync(here).filter((f) => f.endsWith('.js') && f !== 'run.js' && f !== 'lib.js').sort();
for (const f of wanted.length ? all.filter((f) => wanted.some((w) => f.includes(w))) : all) {
  console.log(`\n# bench/${f}`);
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) console.log(`bench/${f} failed (exit ${r.status})`);
}
