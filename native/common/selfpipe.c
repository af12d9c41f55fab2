#include "selfpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define MAX_SIG 65

static int fds[2] = { -1, -1 };
static volatile sig_atomic_t caught[MAX_SIG];

static void on_signal(int sig) {
  if (sig > 0 && sig < MAX_SIG) caught[sig] = 1;
  int e = errno;
  char c = (char)sig;
  ssize_t w = write(fds[1], &c, 1);
  (void)w; /* a full pipe already holds a wake-up */
  errno = e;
}

int selfpipe_install(const int *sigs, size_t n) {
  if (pipe(fds) < 0) return -1;
  for (int i = 0; i < 2; i++) {
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  /* the byte wakes poll() whatever the flags; every other call resumes, as if nothing came (an
   * interrupted waitpid or write would otherwise lose its result) */
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < n; i++) sigaction(sigs[i], &sa, NULL);
  return 0;
}

int selfpipe_read_fd(void) { return fds[0]; }
int selfpipe_write_fd(void) { return fds[1]; }

void selfpipe_drain(void) {
  char drain[64];
  while (read(fds[0], drain, sizeof drain) > 0) {}
}

int selfpipe_take(int sig) {
  if (sig <= 0 || sig >= MAX_SIG || !caught[sig]) return 0;
  caught[sig] = 0;
  return 1;
}

void signals_default(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}
