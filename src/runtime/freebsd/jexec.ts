import { VesselError } from '../../util/errors.js';

/**
 * jexec(8) argv: `jexec [-l] [-d working-directory] [-U username] jail command …`. Without -l
 * jexec passes its own environment on, so the host's `env -i K=V …` in front gives the command
 * exactly the container's environment and nothing of vessel's — visible in the transcript.
 */
export interface JexecInput {
  jail: string;
  argv: string[];
  env: string[];
  workdir?: string;
  user?: string;
}

export function jexecArgv(x: JexecInput): string[] {
  if (x.argv.length === 0) throw new VesselError('E_SPEC', `container ${x.jail}: no command to run`, { hint: 'set [container] command, or use an image with a CMD' });
  const out = ['env', '-i', ...x.env, '/usr/sbin/jexec'];
  if (x.workdir !== undefined && x.workdir !== '') out.push('-d', x.workdir);
  const user = x.user ?? '';
  if (user !== '' && user !== 'root' && user !== '0' && user !== '0:0') {
    // jexec -U looks the name up in the jail's passwd(5); it takes no numeric uid.
    if (/^\d+(:\d+)?$/.test(user)) {
      throw new VesselError('E_SPEC', `user ${JSON.stringify(user)}: jexec(8) needs a user name from the image's /etc/passwd on FreeBSD`, {
        hint: 'set [container] user to a name the image defines',
      });
    }
    out.push('-U', user);
  }
  out.push(x.jail, ...x.argv);
  return out;
}
