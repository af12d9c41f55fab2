/* The hashing thread (hasher.h). */
#include "hasher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Bytes hashed between two looks at the loop's progress: the loop sees room come back this often. */
#define STEP (256u << 10)
/* A sleeping hasher is woken for this much (unless hurried): fewer wakeups than reads. */
#define BATCH (1u << 20)

/* Sleep until there is a batch to hash, or the loop hurries; 0 when told to quit. */
static int await_work(struct hasher *h) {
  pthread_mutex_lock(&h->lock);
  /*
   * `sleeping` is stored before `avail` is looked at again, and the loop stores `avail` before
   * it looks at `sleeping` (both sequentially consistent): either the loop sees the hasher
   * asleep and signals it (under the lock, so not before the wait), or the hasher sees the bytes.
   */
  atomic_store(&h->sleeping, 1);
  for (;;) {
    uint64_t ready = atomic_load(&h->avail) - atomic_load(&h->done);
    if (h->quit || ready >= BATCH || (h->hurry && ready > 0)) break;
    h->hurry = 0;
    pthread_cond_wait(&h->cond, &h->lock);
  }
  atomic_store(&h->sleeping, 0);
  int go = !h->quit;
  pthread_mutex_unlock(&h->lock);
  return go;
}

static void *run(void *arg) {
  struct hasher *h = arg;
  while (await_work(h)) {
    uint64_t from = atomic_load(&h->done), to = atomic_load(&h->avail);
    while (from < to) {
      size_t at = (size_t)(from % h->size);
      size_t n = to - from < STEP ? (size_t)(to - from) : STEP;
      /* The ring wraps here: the rest on the next turn. */
      if (n > h->size - at) n = h->size - at;
      sha256_update(&h->sha, h->ring + at, n);
      from += n;
      atomic_store(&h->done, from);
      /* The pipe holds at most a byte per wait; a full pipe is a pending wakeup already. */
      if (atomic_exchange(&h->waiting, 0)) (void)!write(h->wake[1], "", 1);
      to = atomic_load(&h->avail);
    }
  }
  return NULL;
}

int hasher_start(struct hasher *h, const uint8_t *ring, size_t size) {
  memset(h, 0, sizeof *h);
  h->ring = ring;
  h->size = size;
  h->wake[0] = h->wake[1] = -1;
  sha256_init(&h->sha);
  if (pipe(h->wake) != 0) return -1;
  for (int i = 0; i < 2; i++) {
    (void)fcntl(h->wake[i], F_SETFD, FD_CLOEXEC);
    (void)fcntl(h->wake[i], F_SETFL, fcntl(h->wake[i], F_GETFL) | O_NONBLOCK);
  }
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->cond, NULL);
  h->inited = 1;
  /* Signals (SIGTERM: stop) go to the loop, which is what stops; the thread never sees one. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int err = pthread_create(&h->thread, NULL, run, h);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    hasher_stop(h);
    errno = err;
    return -1;
  }
  h->started = 1;
  return 0;
}

/* Wake the hasher if it sleeps; HURRY: to hash all there is, not only a batch. */
static void nudge(struct hasher *h, int hurry) {
  if (!hurry && !atomic_load(&h->sleeping)) return;
  pthread_mutex_lock(&h->lock);
  if (hurry) h->hurry = 1;
  pthread_cond_signal(&h->cond);
  pthread_mutex_unlock(&h->lock);
}

void hasher_more(struct hasher *h, uint64_t avail) {
  atomic_store(&h->avail, avail);
  if (avail - atomic_load(&h->done) >= BATCH) nudge(h, 0);
}

uint64_t hasher_done(struct hasher *h) { return atomic_load(&h->done); }

int hasher_want_wake(struct hasher *h, uint64_t from) {
  atomic_store(&h->waiting, 1);
  /* After `waiting` is set: a hasher that moved on before it was set is seen here. */
  if (atomic_load(&h->done) > from) {
    atomic_store(&h->waiting, 0);
    return 1;
  }
  nudge(h, 1);
  return 0;
}

int hasher_fd(const struct hasher *h) { return h->wake[0]; }

void hasher_woken(struct hasher *h) {
  char b[16];
  while (read(h->wake[0], b, sizeof b) > 0) {}
}

void hasher_wait(struct hasher *h, uint64_t upto) {
  uint64_t avail = atomic_load(&h->avail);
  if (upto > avail) upto = avail;
  for (uint64_t done; (done = atomic_load(&h->done)) < upto;) {
    if (hasher_want_wake(h, done)) continue;
    struct pollfd p = { .fd = h->wake[0], .events = POLLIN };
    /* A signal (SIGTERM) cuts the wait short; the hash is still wanted: wait on. */
    (void)poll(&p, 1, -1);
    hasher_woken(h);
  }
}

static void join(struct hasher *h) {
  if (h->inited) {
    if (h->started) {
      pthread_mutex_lock(&h->lock);
      h->quit = 1;
      pthread_cond_signal(&h->cond);
      pthread_mutex_unlock(&h->lock);
      pthread_join(h->thread, NULL);
      h->started = 0;
    }
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    h->inited = 0;
  }
  for (int i = 0; i < 2; i++) {
    if (h->wake[i] >= 0) close(h->wake[i]);
    h->wake[i] = -1;
  }
}

void hasher_finish(struct hasher *h, char hex[65]) {
  hasher_wait(h, atomic_load(&h->avail));
  join(h);
  uint8_t d[32];
  sha256_final(&h->sha, d);
  sha256_hex(d, hex);
}

void hasher_stop(struct hasher *h) {
  if (!h->ring) return;
  join(h);
}
