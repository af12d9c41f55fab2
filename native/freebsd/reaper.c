/*
 * The starter is the reaper of every process of the container (procctl(2), FreeBSD 14):
 * "PROC_REAP_ACQUIRE: Acquires the reaper status for the current process. Reaper status means
 * that children orphaned by the reaper's descendants that were forked after the acquisition of
 * reaper status are reparented to the reaper process." A daemon the command leaves behind thus
 * stays countable and killable here, in whatever jail it runs.
 *
 * Each direct child of the reaper starts a subtree (kern_fork.c sets p_reapsubtree to the child's
 * own pid; its descendants inherit it, and kern_exit.c reaper_abandon_children() keeps it when an
 * orphan moves up): the command is one subtree, each health check another. PROC_REAP_KILL with
 * REAPER_KILL_SUBTREE signals one of them ("only to descendants that were forked by the direct
 * child with pid specified in the rk_subtree field"), and PROC_REAP_GETPIDS reports each
 * descendant's pi_subtree, which is how the end of one is seen while another still runs.
 * Neither is allowed in capability mode (kern_procctl.c reap_kill: IN_CAPABILITY_MODE → ECAPMODE;
 * procctl(2) is not CAPENABLED in syscalls.master), which is why the starter, not the monitor,
 * is the reaper.
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <errno.h>
#include <string.h>
#include <sys/procctl.h>
#include <sys/wait.h> /* idtype_t, P_PID */
#include <unistd.h>

int reaper_acquire(void) {
  return procctl(P_PID, getpid(), PROC_REAP_ACQUIRE, NULL);
}

int reaper_signal(int sig, pid_t subtree) {
  struct procctl_reaper_kill rk;
  memset(&rk, 0, sizeof rk);
  rk.rk_sig = sig;
  rk.rk_flags = subtree > 0 ? REAPER_KILL_SUBTREE : 0;
  rk.rk_subtree = subtree;
  /* procctl(2): with no process to signal the request fails with ESRCH — nothing left, no error. */
  if (procctl(P_PID, getpid(), PROC_REAP_KILL, &rk) < 0 && errno != ESRCH) return -1;
  return 0;
}

#define MAX_LISTED 1024

int reaper_subtree_alive(pid_t subtree) {
  struct procctl_reaper_status rs;
  memset(&rs, 0, sizeof rs);
  if (procctl(P_PID, getpid(), PROC_REAP_STATUS, &rs) < 0) return -1;
  /* "rs_descendants: the total number of descendants of the reaper(s)": none, nothing to list */
  if (rs.rs_descendants == 0) return 0;
  static struct procctl_reaper_pidinfo info[MAX_LISTED];
  memset(info, 0, sizeof info);
  struct procctl_reaper_pids rp;
  memset(&rp, 0, sizeof rp);
  rp.rp_count = MAX_LISTED;
  rp.rp_pids = info;
  if (procctl(P_PID, getpid(), PROC_REAP_GETPIDS, &rp) < 0) return -1;
  int alive = 0, i = 0;
  /* "Zero-filling the rp_pids array and testing the REAPER_PIDINFO_VALID flag allows the caller
   * to detect the end of the returned array." */
  for (; i < MAX_LISTED && (info[i].pi_flags & REAPER_PIDINFO_VALID); i++)
    if (info[i].pi_subtree == subtree && info[i].pi_pid != subtree) alive++;
  /* a full list may have left some out: not known to be empty */
  return alive == 0 && i == MAX_LISTED ? 1 : alive;
}
