/* The hashing thread (hasher.h). */
#include "hasher.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Bytes hashed between two looks at the lock: the loop sees room come back this often. */
#define STEP (256u << 10)

static void *run(void *arg) {
  struct hasher *h = arg;
  pthread_mutex_lock(&h->lock);
  for (;;) {
    while (h->done == h->avail && !h->quit) pthread_cond_wait(&h->cond, &h->lock);
    if (h->quit) break;
    uint64_t from = h->done, to = h->avail;
    pthread_mutex_unlock(&h->lock);
    size_t at = (size_t)(from % h->size);
    size_t n = to - from < STEP ? (size_t)(to - from) : STEP;
    /* The ring wraps here: the rest on the next turn. */
    if (n > h->size - at) n = h->size - at;
    sha256_update(&h->sha, h->ring + at, n);
    pthread_mutex_lock(&h->lock);
    h->done = from + n;
    pthread_cond_broadcast(&h->cond);
    if (h->waiting) {
      h->waiting = 0;
      /* The pipe holds at most one byte per wait; a full pipe is a pending wakeup already. */
      (void)!write(h->wake[1], "", 1);
    }
  }
  pthread_mutex_unlock(&h->lock);
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

void hasher_more(struct hasher *h, uint64_t avail) {
  pthread_mutex_lock(&h->lock);
  h->avail = avail;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->lock);
}

uint64_t hasher_done(struct hasher *h) {
  pthread_mutex_lock(&h->lock);
  uint64_t done = h->done;
  pthread_mutex_unlock(&h->lock);
  return done;
}

void hasher_wait(struct hasher *h, uint64_t upto) {
  pthread_mutex_lock(&h->lock);
  if (upto > h->avail) upto = h->avail;
  while (h->done < upto) pthread_cond_wait(&h->cond, &h->lock);
  pthread_mutex_unlock(&h->lock);
}

int hasher_want_wake(struct hasher *h, uint64_t from) {
  pthread_mutex_lock(&h->lock);
  int past = h->done > from;
  if (!past) h->waiting = 1;
  pthread_mutex_unlock(&h->lock);
  return past;
}

int hasher_fd(const struct hasher *h) { return h->wake[0]; }

void hasher_woken(struct hasher *h) {
  char b[16];
  while (read(h->wake[0], b, sizeof b) > 0) {}
}

static void join(struct hasher *h) {
  if (h->inited) {
    if (h->started) {
      pthread_mutex_lock(&h->lock);
      h->quit = 1;
      pthread_cond_broadcast(&h->cond);
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
  hasher_wait(h, h->avail);
  join(h);
  uint8_t d[32];
  sha256_final(&h->sha, d);
  sha256_hex(d, hex);
}

void hasher_stop(struct hasher *h) {
  if (!h->ring) return;
  join(h);
}
