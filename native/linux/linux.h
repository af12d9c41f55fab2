/*
 * The Linux half of the monitor, one file per concern: cgroup.c (a run's cgroups), run.c (the
 * run: clone into new namespaces, signals, the end), init.c (pid 1 inside), root.c (the root
 * filesystem), netlink.c (the veth and addresses), user.c (the image's passwd), privs.c
 * (capabilities, no_new_privs, limits, the command's exec), pty.c (terminals), exec.c (`vessel
 * exec`), relay*.c (published ports the kernel cannot answer, served in userland: relay.h).
 * Why native at all: a start done by a chain of mount/ip processes costs ~200 ms, one process
 * making the syscalls ~10 ms; and a container's pid 1 must reap orphans, which Node cannot.
 */
#ifndef VESSEL_LINUX_H
#define VESSEL_LINUX_H

#include <sys/types.h>
#include "../common/os.h"
#include "../common/plan.h"

/* The status channel of the init (and of `exec`): "ready", "main-exit N", "error MSG" … lines. */
extern int chan_fd;
void chan_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Setup failed inside the container: say why on the channel and exit 125 (docker's convention). */
_Noreturn void die_setup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cgroup.c */
int cgroup_create(const struct plan *p, const char *leaf, char *err, size_t errlen);
int cgroup_join(const struct plan *p, const char *leaf, pid_t pid, char *err, size_t errlen);
int cgroup_join_dirs(const char *const *dirs, int n, pid_t pid, char *err, size_t errlen);
int cgroup_events_fd(const struct plan *p, const char *leaf);
int cgroup_populated(const struct plan *p, const char *leaf);
void cgroup_kill(const struct plan *p, const char *leaf, pid_t except);
/* SIG to every process of the run but EXCEPT, each once; how many it reached */
int cgroup_signal(const struct plan *p, const char *leaf, int sig, pid_t except);
int cgroup_oom_kills(const struct plan *p, const char *leaf);
void cgroup_remove(const struct plan *p, const char *leaf);
/* A child of the run's unified directory for one health check: created, joined, killed, removed. */
int cgroup_sub_create(const struct plan *p, const char *leaf, const char *sub, pid_t pid);
void cgroup_sub_kill(const struct plan *p, const char *leaf, const char *sub);

/* netlink.c: run inside the container's network namespace, before the command, with HOST_NL a
 * NETLINK_ROUTE socket opened in the host's namespace. */
int net_plumb(const struct plan *p, int host_nl, int bridge_index, char *err, size_t errlen);
int net_loopback_up(void);

/* root.c */
void root_setup(struct plan *p, int ptysock, int *slave_out);

/* user.c */
struct ids { uid_t uid; gid_t gid; gid_t groups[64]; int ngroups; char home[4096]; int found_home; };
void user_resolve(const struct plan *p, struct ids *id);

/* privs.c: in the command's process, just before exec. Never returns. */
_Noreturn void exec_command(const struct plan *p, int slave, const struct ids *id);
char **command_env(const struct plan *p, const struct ids *id);

/* pty.c */
int pty_open(int *master, int *slave);
int pty_send_fd(int sock, int fd);
int pty_recv_fd(int sock);

/* init.c: pid 1 of the container; returns its exit code. */
int container_init(struct plan *p, int host_nl, int bridge_index, int ptysock);

/* relay-proc.c: the run's relay of published ports (os_ports_start) is killed and reaped. */
void relay_stop(struct run *r);

/* exec.c: `vessel-init exec CONFIG`. */
int exec_main(const char *config);

/* Into the namespaces and root of the container whose init is INIT (enter.c). 0, or -1 with ERR. */
int enter_container(pid_t init, char *err, size_t errlen);

#endif
