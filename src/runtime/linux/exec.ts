import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { VesselError, host, writeFileAtomic, config } from '../../util/index.js';
import type { ContainerRef, ExecOptions } from '../types.js';
import { renderExecConfig } from './initconf.js';
import { initBinary } from './paths.js';
import { onInitMessages } from './channel.js';
import { recordedPid } from './control.js';
import { signalNumber } from '../signals.js';

/**
 * Run a command inside a running container: its namespaces, root, working directory *and*
 * cgroups (nsenter joins no cgroups, so its processes would escape the limits). Resolves with the
 * command's exit code.
 */
export async function execLinux(target: ContainerRef, opts: ExecOptions): Promise<number> {
  const init = target.pid ?? recordedPid(target.resources, 'init');
  if (!init) throw new VesselError('E_STATE', `container ${target.name} has no recorded init process`);
  const cgroupDirs = target.resources.filter((r) => r.kind === 'cgroup').map((r) => r.id);
  const conf = join(config().run, 'exec', `${target.name}.${randomBytes(4).toString('hex')}.conf`);
  const security = opts.security ?? { capAdd: [], capDrop: [], noNewPrivileges: true };
  writeFileAtomic(conf, renderExecConfig(init, cgroupDirs, opts, security), 0o600);
  const child = host().spawn([initBinary(), 'exec', conf], {
    stdio: [opts.interactive || opts.tty ? 'inherit' : 'ignore', 'inherit', 'inherit', 'pipe'],
  });
  let error: VesselError | undefined;
  const channel = child.pipes[3] as Socket | null;
  if (channel) {
    onInitMessages(channel, (m) => {
      if (m.kind === 'ready' || m.kind === 'error') rmSync(conf, { force: true });
      if (m.kind === 'error') error = new VesselError('E_RUNTIME', `exec in ${target.name}: ${m.message}`);
      if (m.kind === 'notfound') error = new VesselError('E_CMD_NOT_FOUND', `exec in ${target.name}: ${m.message}`);
      if (m.kind === 'cannotrun') error = new VesselError('E_CANNOT_RUN', `exec in ${target.name}: ${m.message}`);
    });
  }
  // forward terminal signals to the exec'd command through vessel-init's own forwarding
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of sigs) process.on(s, forward);
  try {
    const { code, signal } = await child.exited;
    rmSync(conf, { force: true });
    channel?.destroy();
    if (error) throw error;
    return code ?? (signal ? 128 + signalNumber(signal) : 125);
  } finally {
    for (const s of sigs) process.off(s, forward);
  }
}
