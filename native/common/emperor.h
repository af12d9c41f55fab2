/*
 * The vassal side of the uWSGI Emperor's one-byte protocol (uWSGI core/emperor.c 2.0.21, facts in
 * shared/docs/uwsgi-emperor.md), spoken on the socket whose fd is in UWSGI_EMPEROR_FD.
 */
#ifndef VESSEL_EMPEROR_H
#define VESSEL_EMPEROR_H

enum { TO_EMPEROR_SPAWNED = 1, TO_EMPEROR_ACCEPTING = 5, TO_EMPEROR_LOYAL = 17, TO_EMPEROR_HEARTBEAT = 26 };
enum emperor_command { EMPEROR_NONE, EMPEROR_STOP, EMPEROR_RELOAD };

/* The fd from UWSGI_EMPEROR_FD (made non-blocking, close-on-exec), or -1 when not run by an Emperor. */
int emperor_fd_from_env(void);
/* Bytes 0 and 2 (graceful, with emperor-graceful-shutdown) stop; 1 reloads; others are ignored. */
enum emperor_command emperor_decode(unsigned char byte);
/* Best effort: a full or closed socket means the Emperor is gone, which EOF tells us anyway. */
void emperor_send(int fd, unsigned char byte);

#endif
