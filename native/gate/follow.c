/* The follower: a growing file into a pipe (follow.h). */
#include "follow.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How much one splice or read moves at most: the pipe's size (spawn.c's big_pipe). */
#define STEP (1u << 20)
/* The copy buffer where the file cannot be spliced. */
#define COPY (64u << 10)

/* Say why on SAID (the gate reads it after the follower has exited) and exit. */
static void fail(int said, const char *what, int err) {
  dprintf(said, "%s: %s", what, strerror(err));
  _exit(1);
}

/* All of BUF into OUT. 0, or -1 with errno set (EPIPE: the reader is gone). */
static int write_all(int out, const char *buf, size_t len) {
  while (len) {
    ssize_t n = write(out, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/*
 * Up to STEP bytes of FILE at *AT into OUT: bytes moved (0: at the file's end for now), or -1
 * with errno set. *COPY_BUF: the copy buffer once splice has been refused (NULL before).
 */
static ssize_t move(int file, off_t *at, int out, char **copy_buf, char *buf) {
#if defined(__linux__) && defined(SPLICE_F_MOVE)
  if (!*copy_buf) {
    loff_t off = *at;
    ssize_t n = splice(file, &off, out, NULL, STEP, SPLICE_F_MOVE);
    if (n >= 0) {
      *at = off;
      return n;
    }
    /* A file system without splice_read: copy from now on. */
    if (errno != EINVAL && errno != ENOSYS) return -1;
    *copy_buf = buf;
  }
#else
  *copy_buf = buf;
#endif
  ssize_t n = pread(file, *copy_buf, COPY, *at);
  if (n <= 0) return n;
  if (write_all(out, *copy_buf, (size_t)n) != 0) return -1;
  *at += n;
  return n;
}

/* The follower's life: FILE from 0 into OUT, woken by NOTIFY; failures said on SAID. */
static void follow(int file, int notify, int out, int said) {
  static char buf[COPY];
  char *copy_buf = NULL;
  char wake[4096];
  off_t at = 0;
  int complete = 0;
  for (;;) {
    ssize_t n = move(file, &at, out, &copy_buf, buf);
    if (n > 0) continue;
    if (n < 0) {
      if (errno == EINTR) continue;
      /* The reader is gone (the gate stopped, the decompressor exited): nothing to say. */
      if (errno == EPIPE) _exit(0);
      fail(said, "read the blob", errno);
    }
    /* At the file's end: done once the channel has closed, else wait for it to say more. */
    if (complete) _exit(0);
    ssize_t k = read(notify, wake, sizeof wake);
    if (k == 0) complete = 1;
    else if (k < 0 && errno != EINTR) fail(said, "read the follow channel", errno);
  }
}

int follow_start(struct follower *f) {
  f->said = -1;
  f->child.pid = 0;
  f->child.reaped = 0;
  f->child.status = 0;
  int data[2], said[2];
  if (big_pipe(data) != 0) return -1;
  if (pipe(said) != 0) {
    int e = errno;
    close(data[0]);
    close(data[1]);
    errno = e;
    return -1;
  }
  for (int i = 0; i < 2; i++) (void)fcntl(said[i], F_SETFD, FD_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(data[0]);
    close(data[1]);
    close(said[0]);
    close(said[1]);
    errno = e;
    return -1;
  }
  if (pid == 0) {
    /* Dies with the gate, and on SIGTERM as any process (the gate's handler is not its own). */
    child_setup(parent);
    /* EPIPE from write, not the signal: the reader going away is the normal end of a refusal. */
    signal(SIGPIPE, SIG_IGN);
    close(data[0]);
    close(said[0]);
    /* Only what it uses: not the judge's socket (fd 3), nor the decompressor's stderr (fd 4). */
    for (int fd = 1; fd <= 4; fd++) close(fd);
    follow(0, FOLLOW_NOTIFY_FD, data[1], said[1]);
  }
  f->child.pid = pid;
  close(said[1]);
  f->said = said[0];
  close(data[1]);
  close(FOLLOW_NOTIFY_FD);
  /* The pipe stands where the file stood: what reads fd 0 now reads the file as it grows. */
  if (dup2(data[0], 0) < 0) {
    int e = errno;
    close(data[0]);
    errno = e;
    return -1;
  }
  close(data[0]);
  return 0;
}

const char *follow_failure(struct follower *f, char *out, size_t len) {
  if (f->said < 0) return NULL;
  size_t got = 0;
  while (got + 1 < len) {
    ssize_t n = read(f->said, out + got, len - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(f->said);
  f->said = -1;
  out[got] = 0;
  return got ? out : NULL;
}
