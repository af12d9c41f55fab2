/*
 * Test build of vessel-tar-gate (test/unit/native-gate.test.ts), linked with -Wl,--wrap=poll:
 * a stop that lands after the pump loop has looked at its flag and before poll() sleeps, made
 * to happen instead of waited for. Once the file named by VESSEL_TEST_LATE_STOP exists, the
 * gate's next poll() removes it and raises SIGTERM on the gate itself (the handler runs before
 * raise() returns), then polls as it was asked to. A gate that only sets a flag in its handler
 * then sleeps for good on a stalled stream; main.c's self-pipe wakes it. Only in the process that
 * started: the follower, a fork of the gate, polls as usual.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);

static pid_t gate_pid;

__attribute__((constructor)) static void remember_gate(void) {
  gate_pid = getpid();
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout) {
  const char *arm = getenv("VESSEL_TEST_LATE_STOP");
  if (arm && getpid() == gate_pid && unlink(arm) == 0) raise(SIGTERM);
  return __real_poll(fds, n, timeout);
}
