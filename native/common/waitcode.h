/* A wait(2) status as the exit code vessel reports: the code, 128+n for signal n (the shell's
 * and docker's rule), 125 (vessel's own failure) for anything else. One rule for every process. */
#ifndef VESSEL_WAITCODE_H
#define VESSEL_WAITCODE_H

#include <sys/wait.h>

static inline int wait_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 125;
}

#endif
