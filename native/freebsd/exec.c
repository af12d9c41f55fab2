/*
 * The command itself: chdir(2) to the spec's working directory, then execve(2) with exactly the
 * spec's environment. The PATH search is done here over the PATH of that environment: execvp(3)
 * would read the helper's own environment, and with no PATH there it falls back to
 * _PATH_DEFPATH ("/usr/bin:/bin"), which is how a command in /usr/local/bin went missing before.
 * Unlike execvp(3), a file without a #! line (ENOEXEC) is not handed to /bin/sh: the container
 * runs what its image names, and an image need not have a shell.
 */
/* FreeBSD's default environment shows POSIX and BSD interfaces even under -std=c11; glibc
 * (the test build against the double) needs to be asked for PATH_MAX. */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *path_of(char *const env[]) {
  for (int i = 0; env[i] != NULL; i++)
    if (strncmp(env[i], "PATH=", 5) == 0) return env[i] + 5;
  return NULL;
}

static int status_for(int err) {
  return err == ENOENT || err == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}

_Noreturn void exec_command(const char *dir, char *const argv[], char *const env[]) {
  if (chdir(dir) != 0) die_errno(EXIT_CANNOT_RUN, errno, "chdir(2)", dir);
  const char *cmd = argv[0];
  if (strchr(cmd, '/') != NULL) {
    execve(cmd, argv, env);
    die_errno(status_for(errno), errno, "execve(2)", cmd);
  }
  const char *path = path_of(env);
  if (path == NULL) die_msg(EXIT_NOT_FOUND, "no PATH in the container's environment to find", cmd);
  int saved = ENOENT;
  char full[PATH_MAX];
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t len = end == NULL ? strlen(p) : (size_t)(end - p);
    /* An empty PATH element means the current directory (execvp(3)). */
    int n = len == 0 ? snprintf(full, sizeof full, "%s", cmd) : snprintf(full, sizeof full, "%.*s/%s", (int)len, p, cmd);
    if (n > 0 && (size_t)n < sizeof full) {
      execve(full, argv, env);
      /* Keep looking past a missing file; remember that something was there but not runnable. */
      if (errno != ENOENT && errno != ENOTDIR) saved = errno;
    }
    if (end == NULL) break;
    p = end;
  }
  die_errno(status_for(saved), saved, "execve(2) on the container's PATH", cmd);
}
