import type { Command } from 'commander';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function define(program: Command): void {
  program
    .command('selftest')
    .description('run the driver contract against this host, one container per case (selftest-CASE), and write a report to attach to a bug')
    .option('--image <image>', 'image the cases run (default: busybox:latest on Linux, freebsd:latest on FreeBSD)')
    .option('--case <id>', 'run only this case (repeatable)', collect)
    .option('--report <file>', 'where to write the report (default: $VESSEL_ROOT/selftest/report.txt)')
    .option('--json', 'print the results as JSON')
    .action(async (opts: { image?: string; case?: string[]; report?: string; json?: boolean }) => {
      const { mkdirSync, readFileSync } = await import('node:fs');
      const { dirname, join } = await import('node:path');
      const { config } = await import('../util/index.js');
      const { writeFileAtomic } = await import('../util/index.js');
      const { hostOs } = await import('../util/index.js');
      const sel = await import('../selftest/index.js');
      const { runDoctor } = await import('../doctor/index.js');
      const os = hostOs();
      // SIGINT/SIGTERM: remove the case's container before going; SIGKILL leaves its state file,
      // which the next selftest or `vessel gc` cleans.
      let stopping = false;
      const onSignal = (sig: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        void sel.interruptCleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const image = opts.image ?? (os === 'freebsd' ? 'freebsd:latest' : 'busybox:latest');
      // doctor first: a case whose feature this host lacks is SKIP with doctor's reason
      const doctor = await runDoctor();
      const r = await sel.runSelftest({
        image,
        doctor,
        ...(opts.case ? { only: opts.case } : {}),
        onResult: (c) => { if (!opts.json) process.stdout.write(sel.renderCaseLine(c)); },
      });
      const pkg = JSON.parse(readFileSync(join(config().packageDir, 'package.json'), 'utf8')) as { version: string };
      const text = sel.renderSelftestReport(r, doctor, { version: pkg.version, date: new Date().toISOString(), node: process.version });
      const file = opts.report ?? join(config().root, 'selftest', 'report.txt');
      mkdirSync(dirname(file), { recursive: true });
      writeFileAtomic(file, text);
      const count = (s: string) => r.results.filter((c) => c.status === s).length;
      const failed = count('fail');
      if (opts.json) process.stdout.write(JSON.stringify({ ...r, report: file }, null, 2) + '\n');
      else process.stdout.write(`${count('pass')} passed, ${failed} failed, ${count('skip')} skipped; report: ${file}\nattach the report to a bug report (README, "FreeBSD")\n`);
      if (failed > 0) process.exitCode = 1;
    });
}
