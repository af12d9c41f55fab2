/*
 * What a monitor outside any sandbox does itself (os.h: os_dial, os_spawn_detached). Linux always
 * does it so; on FreeBSD the privileged starter does it for a monitor in capability mode.
 */
#ifndef VESSEL_DIRECT_H
#define VESSEL_DIRECT_H

/* socket(2) + connect(2) to the unix socket PATH; the descriptor, or -1 with errno set. */
int direct_dial(const char *path);
/* ARGV (absolute) in its own session, stdio on /dev/null; returns once it is launched. */
void direct_spawn_detached(const char *const *argv);

#endif
