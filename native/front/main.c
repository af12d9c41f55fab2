/*
 * vessel: the native front end of the `vessel` command. It hands the command to a running
 * `vessel up` over its root-only service socket, and otherwise runs the Node CLI (bin/vessel.js),
 * so the commands a warm vessel up serves (run, stop, rm: src/cli/serve.ts) boot no Node at all.
 * It decides nothing: vessel up answers with what to print and how to exit, or with the
 * container monitor to become (a foreground run, in this terminal), or with "node". Anything
 * unexpected before the command was handed over also means "node": nothing was done yet.
 *
 * VESSEL_FRONT=node skips vessel up (the Node CLI, always). The paths of node and bin/vessel.js
 * are the ones `npm run build` saw (front-paths.h, written by native/build.sh).
 */
#include "wire.h"
#include "front-paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define MAX_EXEC_ARGS 64

static _Noreturn void run_node(char **argv) {
  int argc = 0;
  while (argv[argc]) argc++;
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) { perror("vessel"); exit(125); }
  args[0] = (char *)VESSEL_NODE;
  args[1] = (char *)VESSEL_CLI;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execv(VESSEL_NODE, args);
  fprintf(stderr, "vessel: cannot run %s %s: %s (rebuild with npm run build)\n", VESSEL_NODE, VESSEL_CLI, strerror(errno));
  exit(125);
}

/* Where vessel up listens for this configuration, as src/util/config.ts puts it (vessel up checks the rest). */
static int socket_path(char *out, size_t len) {
  const char *run = getenv("VESSEL_RUN_DIR"), *root = getenv("VESSEL_ROOT");
  int n;
  if (run && *run) n = run[0] == '/' ? snprintf(out, len, "%s/vessel.sock", run) : -1;
  else if (root && *root) n = root[0] == '/' ? snprintf(out, len, "%s/run/vessel.sock", root) : -1;
  else n = snprintf(out, len, "/var/run/vessel/vessel.sock");
  return n > 0 && (size_t)n < len ? 0 : -1;
}

static int dial(const char *path) {
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
  return fd;
}

static int send_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* a closed stdout: what is left is not heard, as with any command */
    buf += w;
    len -= (size_t)w;
  }
}

/* The whole request in one buffer: hello, cwd, environment, arguments, go. -1: too big for the protocol. */
static int request(char *buf, size_t cap, size_t *len, char **argv) {
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return -1;
  int n = snprintf(buf, cap, "hello 1 cli %ld\n", (long)getpid());
  if (n < 0 || (size_t)n >= cap) return -1;
  *len = (size_t)n;
  if (wire_put(buf, cap, len, "cwd", cwd) < 0) return -1;
  for (char **e = environ; *e; e++) if (wire_put(buf, cap, len, "env", *e) < 0) return -1;
  for (int i = 1; argv[i]; i++) if (wire_put(buf, cap, len, "arg", argv[i]) < 0) return -1;
  if (isatty(STDERR_FILENO)) {
    /* a progress bar is drawn only on a terminal, as wide as it is */
    struct winsize ws = { 0 };
    unsigned cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
    n = snprintf(buf + *len, cap - *len, "term %u\n", cols);
    if (n < 0 || (size_t)n >= cap - *len) return -1;
    *len += (size_t)n;
  }
  if (*len + 3 >= cap) return -1;
  memcpy(buf + *len, "go\n", 3);
  *len += 3;
  return 0;
}

int main(int argc, char **argv) {
  (void)argc;
  const char *front = getenv("VESSEL_FRONT");
  char path[4096];
  if ((front && !strcmp(front, "node")) || socket_path(path, sizeof path) < 0) run_node(argv);
  static char req[1 << 20];
  size_t len = 0;
  if (request(req, sizeof req, &len, argv) < 0) run_node(argv);
  int fd = dial(path);
  if (fd < 0) run_node(argv);
  if (send_all(fd, req, len) < 0) { close(fd); run_node(argv); }

  static struct wire_reader rd;
  rd.fd = fd;
  char *exec_argv[MAX_EXEC_ARGS + 1];
  int nexec = 0, answered = 0;
  for (;;) {
    char *line;
    int r = wire_read_line(&rd, &line);
    if (r <= 0) {
      /* before any answer nothing was done (vessel up went away, or refused us): the Node CLI does it */
      if (!answered) { close(fd); run_node(argv); }
      fprintf(stderr, "vessel: vessel up stopped answering (%s); see vessel ps\n", r < 0 ? strerror(errno) : "connection closed");
      return 125;
    }
    if (!strcmp(line, "node") || !strncmp(line, "error ", 6)) { close(fd); run_node(argv); }
    answered = 1;
    char *sp = strchr(line, ' ');
    char *text = sp ? sp + 1 : line + strlen(line);
    if (sp) *sp = '\0';
    if (!strcmp(line, "exit")) return atoi(text);
    if (!strcmp(line, "exec")) {
      if (nexec == 0) break;
      exec_argv[nexec] = NULL;
      close(fd);
      execv(exec_argv[0], exec_argv);
      fprintf(stderr, "vessel: cannot run %s: %s\n", exec_argv[0], strerror(errno));
      return 125;
    }
    long n = wire_unescape(text);
    if (n < 0) break;
    if (!strcmp(line, "stdout")) write_all(STDOUT_FILENO, text, (size_t)n);
    else if (!strcmp(line, "stderr")) write_all(STDERR_FILENO, text, (size_t)n);
    else if (!strcmp(line, "setenv") && strchr(text, '=')) {
      char *eq = strchr(text, '=');
      *eq = '\0';
      setenv(text, eq + 1, 1);
    } else if (!strcmp(line, "argv") && nexec < MAX_EXEC_ARGS) {
      exec_argv[nexec] = strdup(text);
      if (!exec_argv[nexec]) break;
      nexec++;
    } else break;
  }
  fprintf(stderr, "vessel: vessel up answered something this front end does not understand; see vessel ps\n");
  return 125;
}
