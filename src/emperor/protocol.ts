import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { VesselError } from '../util/index.js';

/**
 * The vassal side of the Emperor's one-byte protocol (uWSGI core/emperor.c, 2.0.21), spoken on the
 * AF_UNIX socketpair whose fd the Emperor puts in UWSGI_EMPEROR_FD.
 */

/** Bytes the Emperor sends to a vassal. */
export const FromEmperor = {
  STOP: 0,
  RELOAD: 1,
  /** Sent instead of STOP when the Emperor runs with emperor-graceful-shutdown. */
  GRACEFUL_STOP: 2,
} as const;

/** Bytes a vassal sends to the Emperor. */
export const ToEmperor = {
  /** Spawned / ready: `ready=1` in the stats. */
  SPAWNED: 1,
  /** Accepting: `accepting=1`. */
  ACCEPTING: 5,
  /** Loyal: takes the vassal off the throttle blacklist, so its next death is respawned at once. */
  LOYAL: 17,
  /** After the first one, the Emperor SIGKILLs a vassal silent for emperor-required-heartbeat s. */
  HEARTBEAT: 26,
} as const;

export type ToEmperorByte = (typeof ToEmperor)[keyof typeof ToEmperor];

export type EmperorCommand = 'stop' | 'reload';

export interface EmperorChannelEvents {
  /** 0 or 2: stop the container and exit 0. */
  command: [EmperorCommand];
  /** The Emperor closed its end (it died or exited): tear down. */
  end: [];
}

/** Maps a byte received from the Emperor to what it asks for; undefined for bytes vessel ignores. */
export function decodeCommand(byte: number): EmperorCommand | undefined {
  if (byte === FromEmperor.STOP || byte === FromEmperor.GRACEFUL_STOP) return 'stop';
  if (byte === FromEmperor.RELOAD) return 'reload';
  return undefined;
}

/** The fd the Emperor gave this process, or undefined when not run by an Emperor. */
export function emperorFd(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.UWSGI_EMPEROR_FD;
  if (raw === undefined || raw === '') return undefined;
  const fd = Number(raw);
  if (!Number.isInteger(fd) || fd < 3) {
    throw new VesselError('E_CONFIG', `UWSGI_EMPEROR_FD=${raw}: not a file descriptor number ≥ 3`);
  }
  return fd;
}

export class EmperorChannel extends EventEmitter<EmperorChannelEvents> {
  private readonly socket: Socket;
  private ended = false;

  constructor(fd: number) {
    super();
    this.socket = new Socket({ fd, readable: true, writable: true });
    this.socket.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        const cmd = decodeCommand(byte);
        if (cmd) this.emit('command', cmd);
      }
    });
    const finish = (): void => {
      if (this.ended) return;
      this.ended = true;
      this.emit('end');
    };
    this.socket.on('end', finish);
    this.socket.on('close', finish);
    // EPIPE/ECONNRESET mean the Emperor is gone: the same as EOF for the vassal.
    this.socket.on('error', finish);
  }

  /** The channel of this process, when it was started by an Emperor. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): EmperorChannel | undefined {
    const fd = emperorFd(env);
    return fd === undefined ? undefined : new EmperorChannel(fd);
  }

  get closed(): boolean {
    return this.ended;
  }

  send(byte: ToEmperorByte): void {
    if (this.ended) return;
    this.socket.write(Buffer.from([byte]));
  }

  /** Resolves once every byte written so far was handed to the kernel (before process.exit). */
  flush(): Promise<void> {
    if (this.ended || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((res) => this.socket.write(Buffer.alloc(0), () => res()));
  }

  /** Stop reading so the channel no longer keeps the event loop alive. */
  unref(): void {
    this.socket.unref();
  }

  close(): void {
    this.ended = true;
    this.socket.destroy();
  }
}
