/*
 * A test driver for the monitor's OS-independent parts (native/common), built by
 * test/unit/native-common.test.ts with -Werror and AddressSanitizer/UBSan. Each verb exercises one
 * file and prints what it decided, so the test compares it with what TypeScript decides:
 *   probe plan FILE                    parse a plan: "ok KEY=VALUE…" or the error line, exit 1
 *   probe restart MODE MAX CODE FAILURES QUICK UPTIME_MS …   decide_restart for each group of 6
 *   probe status FILE                  write a status record for a plan named `t`
 *   probe escape TEXT                  json_escape
 *   probe service SOCKET LINE…         send each line, print each reply (or the framing error)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/direct.h"
#include "../common/plan.h"
#include "../common/restart.h"
#include "../common/say.h"
#include "../common/service.h"
#include "../common/status.h"

/* The one os.h call the common files here make: the service is dialled as on Linux (directly). */
int os_dial(const char *path);
int os_dial(const char *path) { return direct_dial(path); }

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int plan_verb(const char *file) {
  static struct plan p;
  char err[512] = "";
  if (plan_load(&p, file, err, sizeof err) < 0) {
    printf("error %s\n", err);
    return 1;
  }
  printf("ok name=%s mode=%d restart=%d max=%ld stop_signal=%d stop_timeout_ms=%ld backoff=%ld/%ld/%ld cgroups=%d writes=%d lowers=%d args=%d env=%d caps=%d health_args=%d",
         p.name ? p.name : "", (int)p.mode, (int)p.restart, p.max_retries, p.stop_signal, p.stop_timeout_ms, p.backoff_base_ms, p.backoff_max_ms,
         p.healthy_uptime_ms, p.ncgroups, p.nwrites, p.nlowers, p.nargv, p.nenv, p.ncaps, p.nhealth);
  for (int i = 0; i < p.nargv; i++) printf(" arg=%s", p.argv[i]);
  for (int i = 0; i < p.nrelays; i++) {
    const struct relay *r = &p.relays[i];
    printf(" relay=%s:[%s]:%d>[%s]:%dx%d", r->udp ? "udp" : "tcp", r->listen, r->port, r->target, r->target_port, r->count);
  }
  printf("\n");
  return 0;
}

static int restart_verb(int argc, char **argv) {
  static struct plan p;
  char err[256];
  char empty[] = "plan-version\0" "1";
  if (plan_parse(&p, empty, sizeof empty, err, sizeof err) < 0) { printf("error %s\n", err); return 1; }
  for (int i = 0; i + 6 <= argc; i += 6) {
    p.restart = !strcmp(argv[i], "always") ? RESTART_ALWAYS : !strcmp(argv[i], "on-failure") ? RESTART_ON_FAILURE : RESTART_NO;
    p.max_retries = atol(argv[i + 1]);
    struct restart_count before = { atol(argv[i + 3]), atol(argv[i + 4]) };
    struct restart_decision d = decide_restart(&p, atoi(argv[i + 2]), before, atol(argv[i + 5]));
    printf("%d %ld %ld %ld\n", d.restart, d.delay_ms, d.count.failures, d.count.quick_deaths);
  }
  return 0;
}

static int status_verb(const char *file) {
  static struct plan p;
  char err[256];
  char text[] = "plan-version\0" "1\0" "name\0" "t\0" "run-id\0" "abcd\0";
  if (plan_parse(&p, text, sizeof text - 1, err, sizeof err) < 0) { printf("error %s\n", err); return 1; }
  p.status_path = file;
  struct status s;
  memset(&s, 0, sizeof s);
  s.phase = PH_RUNNING;
  s.run = 2;
  s.init_pid = 42;
  s.relay_pid = 43;
  s.cgroup_leaf = "t.abcdr2";
  s.exit_code = 137;
  s.main_code = -1;
  snprintf(s.reason, sizeof s.reason, "line one\nline two");
  snprintf(s.note, sizeof s.note, "waiting for db");
  s.health = "healthy";
  s.health_logs = 1;
  snprintf(s.health_log[0], sizeof s.health_log[0], "1000 2000 0 ok");
  status_write(&p, &s);
  return 0;
}

static int service_verb(int argc, char **argv) {
  struct service s;
  char err[256], line[SERVICE_LINE_MAX + 1];
  if (service_connect(&s, argv[0], err, sizeof err) < 0) { printf("error %s\n", err); return 1; }
  for (int i = 1; i < argc; i++) {
    if (service_send(&s, mono_ms(), 1000, "%s", argv[i]) < 0) { printf("send failed\n"); return 1; }
    for (;;) {
      int r = service_read(&s, line, sizeof line);
      if (r == 1) { printf("reply %s\n", line); break; }
      if (r < 0) { printf("broken %s\n", line); service_close(&s); return 0; }
      struct timespec ts = { 0, 5 * 1000 * 1000 };
      nanosleep(&ts, NULL);
      if (mono_ms() > s.deadline_ms) { printf("timeout\n"); service_close(&s); return 0; }
    }
  }
  service_close(&s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "plan")) return plan_verb(argv[2]);
  if (argc >= 2 && !strcmp(argv[1], "restart")) return restart_verb(argc - 2, argv + 2);
  if (argc >= 3 && !strcmp(argv[1], "status")) return status_verb(argv[2]);
  if (argc >= 3 && !strcmp(argv[1], "escape")) {
    char out[256];
    json_escape(argv[2], out, sizeof out);
    printf("%s\n", out);
    return 0;
  }
  if (argc >= 3 && !strcmp(argv[1], "service")) return service_verb(argc - 2, argv + 2);
  fprintf(stderr, "usage: probe plan FILE | restart … | status FILE | escape TEXT | service SOCKET LINE…\n");
  return 2;
}
