/*
 * vessel-tar-gate: the one path a tar stream takes into the image store (src/image/gate.ts runs
 * it). It reads the stream — from its stdin, or from a decompressor it starts on its stdin —
 * into one ring, hashes every byte there as it comes (the layer's diff id), walks the headers
 * (walk.c), asks the TypeScript judge about each entry (judge.h: the whole safety policy stays
 * there), and forwards the bytes to the unpacker only up to the first entry not yet accepted:
 * the unpacker never receives the header of a refused entry, nor anything after it. The stream
 * is copied once, into the ring (on Linux the unpacker's pipe takes the ring's pages: feed.h);
 * the bytes never pass through JavaScript.
 *
 * The hash runs on this thread, right after each read, while the bytes are in this core's
 * cache. A hashing thread of its own was measured (bench: the gate alone and with zstd and tar,
 * 227 MB): it cost 35-45 ms more CPU per import (waking it, and the stream crossing to the
 * other core's cache) and was no faster on two cores, where zstd and tar keep both busy; and
 * the hash (SHA-NI, ~2 GB/s) is never the pipeline's slowest stage, tar is.
 *
 *   vessel-tar-gate [--no-hash] [--max-read BYTES] [--follow] [--blob-digest] [--decompress N ARGV…] --unpack N ARGV…
 *
 * fd 0: the stream (or the compressed stream, read by the decompressor itself; with --follow, a
 * file that grows, read by the follower: follow.h, woken through fd 5); with --blob-digest, fd 0 is a
 * file, which the gate hashes too (blob.h); fd 2: the
 * unpacker's stderr (and the gate's own usage errors); fd 3: the judge's socket; fd 4: the
 * decompressor's stderr. Exit 0 after the "end" line (once the judge has closed its end of fd
 * 3: judge.h), whatever the stream held; 125 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "feed.h"
#include "follow.h"
#include "judge.h"
#include "sha256.h"
#include "spawn.h"
#include "tarhdr.h"
#include "walk.h"

/*
 * The ring the stream passes through: stream offset X is at ring[X % RING], so nothing is ever
 * moved. The unpacker is held back by at most WINDOW bytes (what the judge may still be asked
 * about, a sparse file's header group); the rest may be in the unpacker's pipe still (feed.h).
 * A multiple of the tar block: a header never wraps.
 */
#define WINDOW (4u << 20)
#define RING (WINDOW + FEED_RESERVE_MAX)
#define READ_MAX (1u << 20)
/* At most one verdict per header block in the ring is outstanding. */
#define MAX_PENDING (RING / TAR_BLOCK + 1)
/* How often the judge hears how far the stream has been read (its progress bar). */
#define PROGRESS_EVERY (8u << 20)

static volatile sig_atomic_t stop_signal;
/*
 * The stop's wakeup (a self-pipe): the flag alone is lost when the signal comes after the loop
 * has looked at it and before poll() sleeps (a megabyte's vmsplice lies between the two), and a
 * gate whose stream has stalled then sleeps for good, the pull that stopped it waiting with it
 * (seen: an aborted pull hung on its stalled layer's gate). The handler writes a byte here too,
 * and poll() watches the other end.
 */
static int wake[2] = { -1, -1 };
static void on_stop(int sig) {
  int saved = errno;
  stop_signal = sig;
  if (wake[1] >= 0) {
    ssize_t w = write(wake[1], "!", 1);
    (void)w;
  }
  errno = saved;
}

static int regular_file(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static int usage(const char *why) {
  fprintf(stderr, "vessel-tar-gate: %s\nusage: vessel-tar-gate [--no-hash] [--max-read BYTES] [--follow] [--blob-digest] [--decompress N ARGV...] --unpack N ARGV... (run by vessel, not by hand)\n", why);
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
  /* The unpacker's pipe; feed.fd is -1 once it is closed. */
  struct feed feed;
  struct child unpacker, decompressor;
  struct follower follower;
  struct blob blob;
  /*
   * The input file a decompressor reads (a descriptor of the same open file: its offset is how
   * far the decompressor has read, for the progress lines), or -1.
   */
  int source;
  uint8_t *ring;
  /* Stream offsets: forwarded up to, read in all, last said in a progress line. */
  uint64_t fwd, total, said;
  size_t max_read;
  /* Headers the judge has not answered yet, oldest first (a ring of stream offsets). */
  uint64_t *pending;
  size_t head, count;
  char *verdicts;
};

enum outcome { RAN_OUT, STOPPED };

/* How far the unpacker may be fed now: up to the oldest unanswered header, or the walk's hold. */
static uint64_t limit(const struct gate *g) {
  return g->count ? g->pending[g->head] : walk_hold(&g->walk);
}

/* The first stream byte the ring must keep for forwarding: unforwarded, or maybe still in the pipe. */
static uint64_t kept_for_unpacker(const struct gate *g) {
  return g->fwd > g->feed.reserve ? g->fwd - g->feed.reserve : 0;
}

/* Hand the unpacker what it may have and its pipe takes now. -1: stop. */
static int forward(struct gate *g) {
  uint64_t to = limit(g);
  if (g->feed.fd < 0) {
    if (g->fwd < to) g->fwd = to;
    return 0;
  }
  if (g->fwd >= to || g->feed.full) return 0;
  size_t at = (size_t)(g->fwd % RING), len = (size_t)(to - g->fwd);
  struct iovec v[2] = { { g->ring + at, len < RING - at ? len : RING - at }, { g->ring, 0 } };
  v[1].iov_len = len - v[0].iov_len;
  ssize_t n = feed_push(&g->feed, v, v[1].iov_len ? 2 : 1);
  if (n > 0) {
    g->fwd += (uint64_t)n;
    return 0;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return stop_signal ? -1 : 0;
  if (n < 0 && errno == EPIPE) {
    /*
     * The unpacker stopped reading: at the end-of-archive blocks it may exit before the stream
     * ends (the rest is still hashed and judged). If it failed, there is no point going on.
     */
    close(g->feed.fd);
    g->feed.fd = -1;
    child_wait(&g->unpacker);
    return WIFEXITED(g->unpacker.status) && WEXITSTATUS(g->unpacker.status) == 0 ? 0 : -1;
  }
  judge_fail("write to the unpacker: %s", strerror(errno));
  return -1;
}

/* Verdicts that have come, applied oldest first. -1: stop (a refusal, or the judge is gone). */
static int hear(struct gate *g) {
  long got = judge_read(g->verdicts, g->count);
  if (got < 0) return stop_signal || got == -1 ? -1 : 0;
  for (long i = 0; i < got; i++) {
    uint64_t at = g->pending[g->head];
    /* The diff id is of the stream as it came: the header was hashed when it was read. */
    if (g->verdicts[i] == 'p') tar_make_placeholder(g->ring + at % RING);
    /* A refusal: nothing of the entry, or after it, reaches the unpacker. */
    else if (g->verdicts[i] != 'a') return -1;
    g->head = (g->head + 1) % MAX_PENDING;
    g->count--;
  }
  return 0;
}

/* Walk what has been read, asking about every entry found (in pieces where the ring wraps). -1: stop. */
static int walk_read(struct gate *g) {
  struct walk_entry e;
  for (;;) {
    uint64_t lap = g->walk.pos - g->walk.pos % RING;
    uint64_t end = g->total < lap + RING ? g->total : lap + RING;
    enum walk_result r = walk_next(&g->walk, g->ring, lap, end, &e);
    if (r == WALK_ENTRY) {
      if (judge_entry(&e) != 0) return -1;
      g->pending[(g->head + g->count) % MAX_PENDING] = e.at;
      g->count++;
      continue;
    }
    if (r == WALK_BAD) {
      judge_bad(g->walk.error_name, g->walk.error_name_len, g->walk.error, 0);
      return -1;
    }
    if (g->walk.pos == lap + RING && g->walk.pos < g->total) continue;
    return 0;
  }
}

/* Read up to ROOM more bytes of the stream (never across the ring's end): hash them, walk them. -1: stop; 1: its end. */
static int take(struct gate *g, size_t room) {
  uint8_t *at = g->ring + g->total % RING;
  ssize_t n = read(g->in, at, room);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return stop_signal ? -1 : 0;
    judge_fail("read: %s", strerror(errno));
    return -1;
  }
  if (n == 0) return 1;
  if (g->hash) sha256_update(&g->sha, at, (size_t)n);
  g->total += (uint64_t)n;
  if (g->total - g->said >= PROGRESS_EVERY) {
    off_t input = g->source >= 0 ? lseek(g->source, 0, SEEK_CUR) : -1;
    if (judge_progress(g->total, (int64_t)input) != 0) return -1;
    g->said = g->total;
  }
  if (walk_read(g) != 0) return -1;
  /* The questions go at once: the answers are wanted before the unpacker reaches the headers. */
  return judge_flush() == 0 ? 0 : -1;
}

/*
 * Read, hash, walk, ask, forward — all at once, as each side allows (poll): the stream is read
 * ahead while the judge answers, so the unpacker and the decompressor never wait on a round
 * trip to vessel. Until the stream ends (RAN_OUT) or the gate must stop (STOPPED: a refusal, a
 * bad stream, a failed unpacker, a signal; the reason is already sent).
 */
static enum outcome pump(struct gate *g) {
  int eof = 0;
  for (;;) {
    if (stop_signal) return STOPPED;
    if (forward(g) != 0) return STOPPED;
    if (eof && g->count == 0 && g->fwd >= limit(g)) return RAN_OUT;
    /* Room in the ring: from the end read to the first byte still wanted, and to the ring's end. */
    size_t room = 0;
    if (!eof) {
      room = RING - (size_t)(g->total - kept_for_unpacker(g));
      if (room > RING - g->total % RING) room = RING - g->total % RING;
      if (room > g->max_read) room = g->max_read;
    }
    struct pollfd p[4];
    nfds_t n = 0;
    int in = -1, out = -1, ctl = -1;
    if (room) p[in = (int)n++] = (struct pollfd){ .fd = g->in, .events = POLLIN };
    if (g->feed.fd >= 0 && g->fwd < limit(g)) p[out = (int)n++] = (struct pollfd){ .fd = g->feed.fd, .events = POLLOUT };
    if (g->count) p[ctl = (int)n++] = (struct pollfd){ .fd = 3, .events = POLLIN };
    if (n == 0) {
      judge_fail("a header group larger than the buffer");
      return STOPPED;
    }
    /* Readable once a stop signal has come: the loop's first line then ends it. */
    if (wake[0] >= 0) p[n++] = (struct pollfd){ .fd = wake[0], .events = POLLIN };
    /* While the input file has a piece left to hash, the time the gate would sleep hashes it (blob.h). */
    int hashing = g->blob.state == BLOB_MORE;
    int ready = poll(p, n, hashing ? 0 : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      judge_fail("poll: %s", strerror(errno));
      return STOPPED;
    }
    if (ready == 0) {
      if (blob_step(&g->blob) == BLOB_FAILED) {
        judge_fail("%s", g->blob.why);
        return STOPPED;
      }
      continue;
    }
    if (ctl >= 0 && p[ctl].revents && hear(g) != 0) return STOPPED;
    if (out >= 0 && p[out].revents) {
      g->feed.full = 0;
      if (forward(g) != 0) return STOPPED;
    }
    if (in >= 0 && p[in].revents) {
      int r = take(g, room);
      if (r < 0) return STOPPED;
      if (r > 0) eof = 1;
    }
  }
}

static void release(struct gate *g, char **decompress, char **unpack) {
  walk_free(&g->walk);
  blob_free(&g->blob);
  if (g->source >= 0) close(g->source);
  feed_memory_free(g->ring, RING);
  free(g->pending);
  free(g->verdicts);
  free(decompress);
  free(unpack);
}

int main(int argc, char **argv) {
  struct gate g;
  memset(&g, 0, sizeof g);
  g.hash = 1;
  g.max_read = READ_MAX;
  char **decompress = NULL, **unpack = NULL;
  int follow = 0, blob_digest = 0;
  g.follower.said = -1;
  g.source = -1;
  blob_none(&g.blob);
  for (int i = 1; i < argc;) {
    if (!strcmp(argv[i], "--no-hash")) g.hash = 0, i++;
    else if (!strcmp(argv[i], "--follow")) follow = 1, i++;
    else if (!strcmp(argv[i], "--blob-digest")) blob_digest = 1, i++;
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
                      : follow && fcntl(FOLLOW_NOTIFY_FD, F_GETFD) < 0 ? "fd 5 (the follow channel) is not open"
                      : blob_digest && (follow || !decompress) ? "--blob-digest: with --decompress, not --follow"
                      : blob_digest && !regular_file(0) ? "--blob-digest: fd 0 is not a regular file"
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
  /* Without it a stop is seen only by the calls it interrupts (on_stop says why). */
  if (pipe(wake) == 0) {
    for (int i = 0; i < 2; i++) {
      (void)fcntl(wake[i], F_SETFD, FD_CLOEXEC);
      (void)fcntl(wake[i], F_SETFL, O_NONBLOCK);
    }
  } else {
    wake[0] = wake[1] = -1;
  }
  /* No SA_RESTART: a blocking read or write returns, and the loop stops. */
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  walk_init(&g.walk);
  g.ring = feed_memory(RING);
  g.pending = malloc(MAX_PENDING * sizeof *g.pending);
  g.verdicts = malloc(MAX_PENDING);
  if (!g.ring || !g.pending || !g.verdicts) {
    judge_fail("out of memory");
    judge_end(0, "-", 0, "-", "-");
    judge_close();
    release(&g, decompress, unpack);
    return 0;
  }
  if (g.hash) sha256_init(&g.sha);
  /* The input file a decompressor reads itself (not through the follower), kept (fd 0 is closed below): its offset, and its digest. */
  if (decompress && !follow && regular_file(0)) g.source = fcntl(0, F_DUPFD_CLOEXEC, 3);
  const char *cannot = !blob_digest ? NULL : g.source < 0 ? "cannot keep the input file open" : blob_start(&g.blob, g.source) != 0 ? "out of memory" : NULL;
  if (cannot) {
    judge_fail("%s", cannot);
    judge_end(0, "-", 0, "-", "-");
    judge_close();
    release(&g, decompress, unpack);
    return 0;
  }

  enum outcome outcome = STOPPED;
  int read_all = 0;
  int tar_pipe[2], dec_pipe[2];
  g.in = 0;
  g.feed.fd = -1;
  if (follow && follow_start(&g.follower) != 0) {
    judge_fail("cannot start the follower: %s", strerror(errno));
    goto done;
  }
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
  feed_open(&g.feed, tar_pipe[1]);

  outcome = pump(&g);
  read_all = outcome == RAN_OUT;
  if (outcome == RAN_OUT) {
    const char *why = walk_at_end(&g.walk, g.total);
    if (why) {
      judge_bad(g.walk.error_name, g.walk.error_name_len, why, 1);
      read_all = 1;
      outcome = STOPPED;
    }
  }

done:
  if (outcome == STOPPED) {
    /*
     * Nothing more reaches staging: the unpacker goes first, then whatever feeds the gate —
     * unless the stream has ended: its decompressor is exiting then, and how it exits (its
     * complaint about a truncated input) is what explains a short stream.
     */
    child_kill(&g.unpacker);
    if (!read_all) child_kill(&g.decompressor);
  }
  /* Its input is read (or no longer wanted): a follower still waiting for the file to grow is not needed. */
  child_kill(&g.follower.child);
  if (g.feed.fd >= 0) close(g.feed.fd);
  /* The stream is whole: the input's last pieces hashed while tar unpacks what its pipe still holds. */
  if (outcome == RAN_OUT && g.blob.in >= 0) {
    enum blob_state b;
    while ((b = blob_step(&g.blob)) == BLOB_MORE && !stop_signal) {}
    if (b == BLOB_DONE) judge_blob(g.blob.done, g.blob.hex);
    else if (b == BLOB_FAILED) judge_fail("%s", g.blob.why);
  }
  child_wait(&g.unpacker);
  if (g.in > 0) close(g.in);
  child_wait(&g.decompressor);
  child_wait(&g.follower.child);
  /* A follower that failed cut the stream short: whatever the stream looked like, that is why. */
  char why[256];
  if (follow_failure(&g.follower, why, sizeof why)) judge_fail("%s", why);

  char hex[65] = "-", unpacker[32], decompressor[32];
  if (g.hash && outcome == RAN_OUT) {
    uint8_t d[32];
    sha256_final(&g.sha, d);
    sha256_hex(d, hex);
  }
  child_outcome(&g.unpacker, unpacker, sizeof unpacker);
  child_outcome(&g.decompressor, decompressor, sizeof decompressor);
  judge_end(read_all, hex, g.total, unpacker, decompressor);
  judge_close();
  release(&g, decompress, unpack);
  return 0;
}
