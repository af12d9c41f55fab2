/*
 * vessel-tar-gate: the one path a tar stream takes into the image store (src/image/gate.ts runs
 * it). It reads the stream — from its stdin, or from a decompressor it starts on its stdin —
 * hashes every byte (the layer's diff id), walks the headers (walk.c), asks the TypeScript judge
 * about each entry (judge.h: the whole safety policy stays there), and forwards the bytes to the
 * unpacker only up to the first entry not yet accepted: the unpacker never receives the header
 * of a refused entry, nor anything after it. Data is never copied beyond one buffer; the bytes
 * never pass through JavaScript.
 *
 *   vessel-tar-gate [--no-hash] [--max-read BYTES] [--decompress N ARGV…] --unpack N ARGV…
 *
 * fd 0: the stream (or the compressed stream, read by the decompressor itself); fd 2: the
 * unpacker's stderr (and the gate's own usage errors); fd 3: the judge's socket; fd 4: the
 * decompressor's stderr. Exit 0 after the "end" line, whatever the stream held; 125 on a usage
 * error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "judge.h"
#include "sha256.h"
#include "spawn.h"
#include "tarhdr.h"
#include "walk.h"

#define BUF_CAP (4u << 20)
#define READ_MAX (1u << 20)
/* At most one verdict per header block of a full buffer is outstanding. */
#define MAX_PENDING (BUF_CAP / TAR_BLOCK + 1)
/* How often the judge hears how far the stream has been read (its progress bar). */
#define PROGRESS_EVERY (8u << 20)

static volatile sig_atomic_t stop_signal;
static void on_stop(int sig) { stop_signal = sig; }

static int usage(const char *why) {
  fprintf(stderr, "vessel-tar-gate: %s\nusage: vessel-tar-gate [--no-hash] [--max-read BYTES] [--decompress N ARGV...] --unpack N ARGV... (run by vessel, not by hand)\n", why);
  return 125;
}

/* "--flag N arg1 … argN" at argv[*i]: a copy of the N words, NULL-terminated. */
static char **argv_list(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) return NULL;
  char *end;
  long n = strtol(argv[*i + 1], &end, 10);
  if (*end || n < 1 || n > argc - *i - 2) return NULL;
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (!list) return NULL;
  memcpy(list, argv + *i + 2, (size_t)n * sizeof *list);
  *i += 2 + (int)n;
  return list;
}

struct gate {
  struct walk walk;
  struct sha256 sha;
  int hash;
  int in;
  int tar_in;
  struct child unpacker, decompressor;
  uint8_t *buf;
  uint64_t base, fwd, total, said;
  size_t len, max_read;
  uint64_t *pending;
  size_t npending;
  char *verdicts;
};

/* Forward stream bytes [g->fwd, to) to the unpacker. -1: stop (a signal, or it failed). */
static int forward(struct gate *g, uint64_t to) {
  while (g->fwd < to) {
    if (g->tar_in < 0) {
      g->fwd = to;
      break;
    }
    ssize_t n = write(g->tar_in, g->buf + (g->fwd - g->base), (size_t)(to - g->fwd));
    if (n > 0) {
      g->fwd += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR && !stop_signal) continue;
    if (n < 0 && errno == EPIPE) {
      /*
       * The unpacker stopped reading: at the end-of-archive blocks it may exit before the stream
       * ends (the rest is still hashed and judged). If it failed, there is no point going on.
       */
      close(g->tar_in);
      g->tar_in = -1;
      child_wait(&g->unpacker);
      if (WIFEXITED(g->unpacker.status) && WEXITSTATUS(g->unpacker.status) == 0) continue;
      return -1;
    }
    if (n < 0 && !stop_signal) judge_fail("write to the unpacker: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* Keep stream bytes from g->fwd on; make room for one more read. */
static void compact(struct gate *g) {
  size_t drop = (size_t)(g->fwd - g->base);
  if (drop == 0 || BUF_CAP - g->len >= g->max_read) return;
  memmove(g->buf, g->buf + drop, g->len - drop);
  g->len -= drop;
  g->base = g->fwd;
}

enum outcome { RAN_OUT, STOPPED };

/*
 * Read, hash, walk, ask, forward, until the stream ends (RAN_OUT) or the gate must stop
 * (STOPPED: a refusal, a bad stream, a failed unpacker, a signal; the reason is already sent).
 */
static enum outcome pump(struct gate *g) {
  for (;;) {
    compact(g);
    size_t room = BUF_CAP - g->len;
    if (room > g->max_read) room = g->max_read;
    if (room == 0) {
      judge_fail("a header group larger than the buffer");
      return STOPPED;
    }
    ssize_t n = read(g->in, g->buf + g->len, room);
    if (n < 0) {
      if (errno == EINTR && !stop_signal) continue;
      if (!stop_signal) judge_fail("read: %s", strerror(errno));
      return STOPPED;
    }
    if (n == 0) return RAN_OUT;
    if (g->hash) sha256_update(&g->sha, g->buf + g->len, (size_t)n);
    g->len += (size_t)n;
    g->total += (uint64_t)n;
    if (g->total - g->said >= PROGRESS_EVERY) {
      if (judge_progress(g->total) != 0) return STOPPED;
      g->said = g->total;
    }

    struct walk_entry e;
    enum walk_result r;
    while ((r = walk_next(&g->walk, g->buf, g->base, g->base + g->len, &e)) == WALK_ENTRY) {
      if (judge_entry(&e) != 0) return STOPPED;
      g->pending[g->npending++] = e.at;
    }
    if (r == WALK_BAD) {
      /* What was walked before the bad header may go; the unpacker dies unheard anyway. */
      judge_bad(g->walk.error_name, g->walk.error_name_len, g->walk.error, 0);
      return STOPPED;
    }
    if (forward(g, g->npending ? g->pending[0] : walk_hold(&g->walk)) != 0) return STOPPED;
    /* Each verdict as it comes: a refusal stops the gate at once, whatever follows it. */
    for (size_t done = 0; done < g->npending;) {
      long got = judge_verdicts(g->verdicts, g->npending - done);
      if (got < 0) return STOPPED;
      for (long i = 0; i < got; i++, done++) {
        if (g->verdicts[i] == 'p') tar_make_placeholder(g->buf + (g->pending[done] - g->base));
        else if (g->verdicts[i] != 'a') return STOPPED;
      }
    }
    if (g->npending) {
      g->npending = 0;
      if (forward(g, walk_hold(&g->walk)) != 0) return STOPPED;
    }
  }
}

int main(int argc, char **argv) {
  struct gate g;
  memset(&g, 0, sizeof g);
  g.hash = 1;
  g.max_read = READ_MAX;
  char **decompress = NULL, **unpack = NULL;
  for (int i = 1; i < argc;) {
    if (!strcmp(argv[i], "--no-hash")) g.hash = 0, i++;
    else if (!strcmp(argv[i], "--max-read") && i + 1 < argc) {
      long v = strtol(argv[i + 1], NULL, 10);
      if (v < 1 || v > (long)READ_MAX) return free(decompress), free(unpack), usage("--max-read: 1 to 1048576 bytes");
      g.max_read = (size_t)v;
      i += 2;
    } else if (!strcmp(argv[i], "--decompress") && !decompress) {
      if (!(decompress = argv_list(argc, argv, &i))) return free(unpack), usage("--decompress N ARGV...");
    } else if (!strcmp(argv[i], "--unpack") && !unpack) {
      if (!(unpack = argv_list(argc, argv, &i))) return free(decompress), usage("--unpack N ARGV...");
    } else {
      free(decompress);
      free(unpack);
      return usage("unknown argument");
    }
  }
  const char *wrong = !unpack ? "no --unpack"
                      : fcntl(3, F_GETFD) < 0 ? "fd 3 (the judge) is not open"
                      : decompress && fcntl(4, F_GETFD) < 0 ? "fd 4 (the decompressor's stderr) is not open"
                      : NULL;
  if (wrong) {
    free(decompress);
    free(unpack);
    return usage(wrong);
  }
  for (int fd = 3; fd <= 4; fd++) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  judge_open(3);
  die_with_parent();

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  /* No SA_RESTART: a blocking read or write returns, and the loop stops. */
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  g.buf = malloc(BUF_CAP);
  g.pending = malloc(MAX_PENDING * sizeof *g.pending);
  g.verdicts = malloc(MAX_PENDING);
  if (!g.buf || !g.pending || !g.verdicts) {
    judge_fail("out of memory");
    judge_end(0, "-", 0, "-", "-");
    free(g.buf);
    free(g.pending);
    free(g.verdicts);
    free(decompress);
    free(unpack);
    return 0;
  }
  walk_init(&g.walk);
  if (g.hash) sha256_init(&g.sha);

  enum outcome outcome = STOPPED;
  int read_all = 0;
  int tar_pipe[2], dec_pipe[2];
  g.in = 0;
  g.tar_in = -1;
  if (decompress) {
    if (big_pipe(dec_pipe) != 0 || child_start(&g.decompressor, decompress, 0, dec_pipe[1], 4) != 0) {
      judge_fail("cannot start %s: %s", decompress[0], strerror(errno));
      goto done;
    }
    close(dec_pipe[1]);
    close(0);
    g.in = dec_pipe[0];
  }
  if (big_pipe(tar_pipe) != 0 || child_start(&g.unpacker, unpack, tar_pipe[0], -1, 2) != 0) {
    judge_fail("cannot start %s: %s", unpack[0], strerror(errno));
    goto done;
  }
  close(tar_pipe[0]);
  g.tar_in = tar_pipe[1];

  outcome = pump(&g);
  read_all = outcome == RAN_OUT;
  if (outcome == RAN_OUT) {
    const char *why = walk_at_end(&g.walk, g.base + g.len);
    if (why) {
      judge_bad(g.walk.error_name, g.walk.error_name_len, why, 1);
      read_all = 1;
      outcome = STOPPED;
    } else if (forward(&g, g.base + g.len) != 0) {
      outcome = STOPPED;
    }
  }

done:
  if (outcome == STOPPED) {
    /* Nothing more reaches staging: the unpacker goes first, then whatever feeds the gate. */
    child_kill(&g.unpacker);
    child_kill(&g.decompressor);
  }
  if (g.tar_in >= 0) close(g.tar_in);
  child_wait(&g.unpacker);
  if (g.in > 0) close(g.in);
  child_wait(&g.decompressor);

  char hex[65] = "-", unpacker[32], decompressor[32];
  if (g.hash && outcome == RAN_OUT) {
    uint8_t d[32];
    sha256_final(&g.sha, d);
    sha256_hex(d, hex);
  }
  child_outcome(&g.unpacker, unpacker, sizeof unpacker);
  child_outcome(&g.decompressor, decompressor, sizeof decompressor);
  judge_end(read_all, hex, g.total, unpacker, decompressor);
  walk_free(&g.walk);
  free(g.buf);
  free(g.pending);
  free(g.verdicts);
  free(decompress);
  free(unpack);
  return 0;
}
