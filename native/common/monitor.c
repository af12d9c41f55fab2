/*
 * The monitor's state machine (monitor.h says what the monitor is; docs/supervision.md has this
 * file's table in prose). One poll() loop over a self-pipe for signals, the Emperor's socket, the
 * service's socket, the init's status channel and the OS's "maybe empty" watch; every event in
 * every state calls one small function from actions[state][event], and every change of state is
 * written at once to the status record. Nothing is allocated but the plans (the first, a reload's).
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "at.h"
#include "emperor.h"
#include "health.h"
#include "os.h"
#include "plan.h"
#include "restart.h"
#include "say.h"
#include "termrelay.h"
#include "selfpipe.h"
#include "service.h"
#include "status.h"
#include "waitcode.h"

#define REPORT_FD 3                 /* detached/foreground: the CLI's pipe for the first start */
#define PREPARE_TIMEOUT_MS 120000   /* a first prepare may create a network or a ZFS clone */
#define REQUEST_TIMEOUT_MS 60000
#define RETRY_WAIT_MS 1000
#define EMPTY_GRACE_MS 2000

enum event {
  EV_PLAN, EV_WAIT, EV_IDLE, EV_FAIL,      /* the service's answers to prepare */
  EV_READY, EV_ENDED,                      /* the run */
  EV_STOP, EV_RELOAD,                      /* Emperor bytes, SIGTERM/SIGINT, the Emperor gone */
  EV_UNCHANGED, EV_CHANGED, EV_SURGE,      /* answers to reload */
  EV_RESPAWN, EV_STAY, EV_RELEASED,        /* answers to exited / release */
  EV_STOP_TIMEOUT, EV_BACKOFF_DONE, EV_RETRY,
  EV_SERVICE_LOST,
  EV_STOP_OK,                              /* vessel up: the containers depending on this one are down */
  N_EVENTS,
};

static const char *const event_names[N_EVENTS] = {
  "plan", "wait", "idle", "fail", "ready", "ended", "stop", "reload", "unchanged", "changed", "surge",
  "respawn", "stay", "released", "stop-timeout", "backoff-done", "retry", "service-lost", "stop-ok",
};

/* ---------- the monitor's whole state ---------- */

static struct plan P;
static int have_plan;
static struct status S;
static struct run R;
static int have_run;                 /* R holds a started run not yet finished */
static struct service SV;
static int emperor = -1;
static int report = -1;              /* REPORT_FD until the first start is reported */
static char vassal_name[256];

static int stop_asked;               /* a stop is under way or done: never restart */
static int reload_after_stop;        /* the run is stopped to make way for a changed spec */
static int loyal;                    /* sent 17 and 5 to the Emperor */
static int announced;                /* sent 1 (spawned) and started heartbeats */
static int exit_code = -1;           /* >= 0: leave the loop with it */
static int service_lost;             /* a send to vessel up failed: handled in the loop, as a lost service */
static struct restart_count count;
static long long t_stop, t_backoff, t_loyal, t_heartbeat, t_retry, t_empty;
static long heartbeat_ms = 10000;
static const char *ev_arg = "";      /* the event's text (plan path, reason) */

static struct term_relay TR = { .master = -1, .in_fd = -1, .out_fd = -1 }; /* a -t run's terminal (termrelay.h) */
static int out_fd = STDOUT_FILENO;   /* our stdout, or a non-blocking copy of it (-t: termrelay.h says why) */

/* Lines for the service: one request is outstanding at a time, the rest wait here. */
static char outq[8][700];
static int outq_len;

static struct termios saved_tio;
static int tio_saved;

static struct held_dir stop_dir = HELD_DIR_INIT; /* the stop marker's directory (at.h) */
static int sandboxed;                /* os_sandbox() was tried: it is done once, for the first run */

/* ---------- clocks, timers ---------- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void set_phase(enum phase ph) {
  S.phase = ph;
  if (have_plan) status_write(&P, &S);
}

/* ---------- talking to the CLI, the Emperor and the service ---------- */

static void report_line(const char *fmt, const char *a, long b) {
  if (report < 0) return;
  char line[700];
  int n = snprintf(line, sizeof line, fmt, a, b);
  if (n > 0) { ssize_t w = write(report, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)); (void)w; }
  close(report);
  report = -1;
}

/* VESSEL_SERVICE_TIMEOUT_MS: a shorter deadline for every request (tests of a silent service). */
static long request_timeout(const char *request) {
  const char *env = getenv("VESSEL_SERVICE_TIMEOUT_MS");
  long t = env ? atol(env) : 0;
  if (t > 0) return t;
  return !strncmp(request, "prepare", 7) ? PREPARE_TIMEOUT_MS : REQUEST_TIMEOUT_MS;
}

static void service_flush(void) {
  if (SV.fd < 0 || SV.pending || outq_len == 0) return;
  long timeout = request_timeout(outq[0]);
  if (service_send(&SV, now_ms(), timeout, "%s", outq[0]) < 0) {
    say(L_ERROR, "cannot send \"%s\" to vessel up: %s", outq[0], strerror(errno));
    service_close(&SV);
    outq_len = 0; /* nothing queued will be answered */
    service_lost = 1; /* fired from the loop: actions call this */
    return;
  }
  memmove(outq[0], outq[1], sizeof outq[0] * (size_t)(outq_len - 1));
  outq_len--;
}

static void service_ask(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void service_ask(const char *fmt, ...) {
  if (SV.fd < 0) return;
  if (outq_len == (int)(sizeof outq / sizeof outq[0])) { say(L_ERROR, "service queue full"); return; }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(outq[outq_len++], sizeof outq[0], fmt, ap);
  va_end(ap);
  service_flush();
}

static void emperor_announce(void) {
  if (emperor < 0) return;
  emperor_send(emperor, TO_EMPEROR_SPAWNED);
  if (!announced) {
    emperor_send(emperor, TO_EMPEROR_HEARTBEAT);
    t_heartbeat = now_ms() + heartbeat_ms;
    announced = 1;
  }
  if (loyal) emperor_send(emperor, TO_EMPEROR_ACCEPTING);
}

static void leave(int code) {
  if (exit_code < 0) exit_code = code;
}

/*
 * A foreground run handed off by vessel up (src/supervise/handoff.ts): the native front end exec'd
 * this monitor in the user's terminal, so nobody waits for it. It tells vessel up when its
 * container runs and asks it for the release at the end, as a detached monitor does.
 */
static int handed_off(void) {
  return P.mode == MODE_FOREGROUND && P.service && P.parent_pid == 0;
}

/* The code this monitor ends with once its container is released: the container's, in the foreground. */
static int final_code(void) {
  return P.mode == MODE_FOREGROUND ? S.exit_code : 0;
}

/*
 * vessel up is gone (its socket closed, a send failed) outside the Emperor. A handed-off run goes
 * on (its end is released by `vessel _release`); a release that was asked for is left to gc.
 */
static void service_gone_outside_emperor(void) {
  if (handed_off() && S.phase != PH_EXITED) {
    say(L_WARN, "lost vessel up: the container keeps running; its end is released without it");
    return;
  }
  leave(final_code());
}

/* Connects and says who we are; -1 (and a warning) when vessel up is not there. */
static int service_open_monitor(void) {
  if (SV.fd >= 0) return 0;
  char err[256];
  if (!P.service || service_connect(&SV, P.service, err, sizeof err) < 0) {
    if (P.service) say(L_WARN, "%s", err);
    return -1;
  }
  service_ask("hello %d monitor %d %s", SERVICE_PROTOCOL, (int)getpid(), P.name);
  return 0;
}

/* ---------- runs ---------- */

static void finish_run(void) {
  if (!have_run) return;
  S.oom_kills = os_finish(&P, &R);
  have_run = 0;
  S.relay_pid = 0;
  S.exited_ms = wall_ms();
  int st = R.wait_status;
  S.exit_code = wait_code(st);
  if (!R.reaped) S.exit_code = 125;
  /* wait=all: the init's code is the main command's; wait=main the same, read from its report. */
  if (R.main_code >= 0 && R.reaped && WIFEXITED(st)) S.exit_code = R.main_code;
  if (R.error_code) S.exit_code = R.error_code;
  S.main_code = R.main_code;
  S.stopped = stop_asked;
  snprintf(S.reason, sizeof S.reason, "%s", R.reason);
  if (R.chan >= 0) close(R.chan);
  if (R.watch >= 0) close(R.watch);
  if (R.master >= 0) { term_relay_end(&TR); close(R.master); }
  R.chan = R.watch = R.master = -1;
  if (health_runs_on(&R)) health_stop();
  t_stop = t_loyal = t_empty = 0;
}

static void start_run(void) {
  memset(&R, 0, sizeof R);
  R.index = S.run;
  R.chan = R.watch = R.master = -1;
  R.main_code = -1;
  S.init_pid = 0;
  S.note[0] = '\0';
  char err[512] = "";
  os_name_run(&P, &R);
  S.cgroup_leaf = R.leaf;
  set_phase(PH_STARTING); /* the record names the run's resources before they exist */
  if (os_start(&P, &R, err, sizeof err) < 0) {
    /* Nothing runs: the same path as a run that died at once, with the reason it gave. */
    say(L_ERROR, "cannot start: %s", err);
    snprintf(R.reason, sizeof R.reason, "%s", err);
    R.error_code = 125;
    have_run = 1;
    R.reaped = 1;
    R.wait_status = 125 << 8;
    return;
  }
  have_run = 1;
  term_relay_begin(&TR, R.master, P.interactive && R.master >= 0, out_fd);
  S.cgroup_leaf = R.leaf;
  S.init_pid = R.init;
  status_write(&P, &S);
}

/* `vessel stop` (or `kill`) left its marker: the container is stopped on purpose, never restarted. */
static int stop_marker_exists(void) {
  const char *name = P.stop_marker ? held_dir_for(&stop_dir, P.stop_marker) : NULL;
  return name && faccessat(stop_dir.fd, name, F_OK, 0) == 0;
}

/* `vessel stop -t N` writes N into the stop marker: it overrides the plan's stop timeout. */
static void stop_timeout_from_marker(void) {
  const char *name = P.stop_marker ? held_dir_for(&stop_dir, P.stop_marker) : NULL;
  int fd = name ? openat(stop_dir.fd, name, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) return;
  char text[64];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return;
  text[n] = '\0';
  char *end = NULL;
  double sec = strtod(text, &end);
  if (end != text && sec >= 0 && sec <= 86400) P.stop_timeout_ms = (long)(sec * 1000);
}

static void begin_stop(void) {
  stop_asked = 1;
  if (!have_run) return;
  stop_timeout_from_marker();
  set_phase(PH_STOPPING);
  os_signal(&P, &R, P.stop_signal, 1);
  t_stop = now_ms() + P.stop_timeout_ms;
}

/* Detached end of life: TypeScript releases what it created (lease, firewall rules, jail). */
static void release_ts_side(void) {
  if (service_open_monitor() == 0) {
    service_ask("release");
    return; /* the loop waits for "released" */
  }
  /* No warm service: one short-lived `vessel _release NAME`, detached from us and the terminal. */
  if (P.nrelease > 0) os_spawn_detached(P.release_argv);
  leave(final_code());
}

/* ---------- actions: one small function per (state, event) that does something ---------- */

static void a_prepare(void) {
  set_phase(PH_PREPARING);
  service_ask("prepare");
}

/*
 * Every descriptor the monitor keeps exists once its first run is about to start: the OS half
 * limits each to its use and locks the monitor in (os.h, docs/supervision.md). Tried once.
 */
static void enter_sandbox(void) {
  if (sandboxed) return;
  sandboxed = 1;
  struct held_fd fds[12];
  int n = 0;
  int dirs[2] = { status_dir(&P), P.stop_marker && held_dir_for(&stop_dir, P.stop_marker) ? stop_dir.fd : -1 };
  for (int i = 0; i < 2; i++) if (dirs[i] >= 0) fds[n++] = (struct held_fd){ dirs[i], HELD_DIR };
  if (emperor >= 0) fds[n++] = (struct held_fd){ emperor, HELD_STREAM };
  if (SV.fd >= 0) fds[n++] = (struct held_fd){ SV.fd, HELD_STREAM };
  if (report >= 0) fds[n++] = (struct held_fd){ report, HELD_WRITE };
  fds[n++] = (struct held_fd){ selfpipe_read_fd(), HELD_READ };
  fds[n++] = (struct held_fd){ selfpipe_write_fd(), HELD_WRITE };
  fds[n++] = (struct held_fd){ STDIN_FILENO, HELD_READ };
  fds[n++] = (struct held_fd){ STDOUT_FILENO, HELD_WRITE };
  fds[n++] = (struct held_fd){ STDERR_FILENO, HELD_WRITE };
  if (out_fd != STDOUT_FILENO) fds[n++] = (struct held_fd){ out_fd, HELD_WRITE };
  char err[512] = "";
  if (os_sandbox(fds, n, err, sizeof err) < 0) say(L_WARN, "the monitor runs without a sandbox: %s", err);
}

static void a_plan(void) {
  char err[512];
  plan_free(&P);
  if (os_plan_load(&P, ev_arg, err, sizeof err) < 0) {
    say(L_ERROR, "%s", err);
    leave(1);
    return;
  }
  have_plan = 1;
  if (P.heartbeat_ms) heartbeat_ms = P.heartbeat_ms;
  if (os_setup(&P, err, sizeof err) < 0) {
    snprintf(S.reason, sizeof S.reason, "%s", err);
    S.exit_code = 125;
    S.exited_ms = wall_ms();
    say(L_ERROR, "%s", err);
    set_phase(PH_EXITED);
    service_ask("exited %ld 125 0", S.run);
    return;
  }
  enter_sandbox();
  start_run();
}

static void a_wait(void) {
  snprintf(S.note, sizeof S.note, "%s", ev_arg);
  set_phase(PH_WAITING);
  emperor_announce();
  t_retry = now_ms() + RETRY_WAIT_MS;
}

static void a_idle(void) {
  snprintf(S.note, sizeof S.note, "%s", ev_arg);
  if (*ev_arg) say(L_WARN, "idle: %s", ev_arg);
  S.phase = PH_IDLE;
  if (have_plan) status_write(&P, &S);
  emperor_announce();
}

static void a_fail(void) {
  say(L_ERROR, "vessel up could not prepare the container: %s", ev_arg);
  leave(1);
}

static void a_ready(void) {
  char err[512] = "";
  if (os_ports_start(&P, &R, err, sizeof err) < 0) {
    /* a port the plan publishes cannot be served: a failed start, ended with the reason */
    say(L_ERROR, "cannot start: %s", err);
    snprintf(R.reason, sizeof R.reason, "%s", err);
    R.error_code = 125;
    os_kill(&P, &R);
    return;
  }
  S.started_ms = wall_ms();
  S.relay_pid = R.relay;
  set_phase(PH_RUNNING);
  say(L_INFO, "container started (run %ld, init %d)", S.run, (int)R.init);
  report_line("started %s %ld\n", P.name, (long)R.init);
  if (SV.fd >= 0 && (P.mode == MODE_EMPEROR || handed_off())) service_ask("started %ld %d", S.run, (int)R.init);
  emperor_announce();
  if (P.nhealth > 0) health_start(&P, &R, &S, now_ms());
  else if (emperor >= 0) t_loyal = now_ms() + P.min_uptime_ms;
}

/* The run ended after a stop was asked for (stop, reload, Emperor stop, SIGTERM). */
static void ended_after_stop(void) {
  set_phase(PH_EXITED);
  say(L_INFO, "container stopped (%d)", S.exit_code);
  if (P.mode == MODE_EMPEROR) {
    if (SV.fd >= 0) service_ask("exited %ld %d 1", S.run, S.exit_code);
    else leave(reload_after_stop ? 1 : 0);
    return;
  }
  if (P.mode == MODE_FOREGROUND && !handed_off()) { leave(S.exit_code); return; }
  /* detached or handed off: `vessel stop` left a marker and releases the rest itself */
  if (stop_marker_exists()) leave(final_code());
  else release_ts_side();
}

/* The run ended on its own. */
static void ended_by_itself(void) {
  long uptime = S.started_ms ? (long)(S.exited_ms - S.started_ms) : 0;
  set_phase(PH_EXITED);
  if (report >= 0) {
    /* never got ready: the CLI waiting for the first start hears why */
    report_line("error %s (exit %ld)\n", S.reason[0] ? S.reason : "the container exited during start-up", S.exit_code);
  }
  switch (P.mode) {
  case MODE_FOREGROUND:
    if (handed_off()) release_ts_side();
    else leave(S.exit_code);
    return;
  case MODE_EMPEROR:
    say(L_WARN, "container exited %d%s%s", S.exit_code, S.reason[0] ? ": " : "", S.reason);
    if (SV.fd >= 0) service_ask("exited %ld %d 0", S.run, S.exit_code);
    else leave(1); /* no service to ask: let the Emperor respawn (its throttle backs off) */
    return;
  case MODE_DETACHED:
    break;
  }
  if (stop_marker_exists()) { leave(0); return; }
  struct restart_decision d = decide_restart(&P, S.exit_code, count, uptime);
  count = d.count;
  S.failures = count.failures;
  S.quick_deaths = count.quick_deaths;
  if (!d.restart) {
    say(L_INFO, "container exited %d; not restarted by its policy", S.exit_code);
    status_write(&P, &S);
    release_ts_side();
    return;
  }
  say(L_INFO, "container exited %d; restarting in %ld ms", S.exit_code, d.delay_ms);
  set_phase(PH_BACKOFF);
  t_backoff = now_ms() + d.delay_ms;
}

static void a_ended(void) {
  finish_run();
  if (stop_asked) ended_after_stop();
  else ended_by_itself();
}

static int stop_cleared; /* vessel up said the containers that depend on this one are down */

/*
 * Under the Emperor a stop waits for vessel up's word that the containers depending on this one
 * (depends_on) are down: an Emperor shutdown stops every vassal at once, and a database must not
 * go before the web service that uses it. Without the service, at once.
 */
static void a_stop_run(void) {
  if (P.mode == MODE_EMPEROR && SV.fd >= 0 && !stop_cleared) {
    stop_cleared = 1;
    service_ask("stop");
    return;
  }
  begin_stop();
}

static void a_stop_ok(void) { begin_stop(); }

/* A stop where nothing runs: leave (a detached container releases what it holds first). */
static void a_stop_idle(void) {
  stop_asked = 1;
  t_backoff = t_retry = 0;
  if (P.mode == MODE_DETACHED && have_plan && S.phase == PH_BACKOFF) { release_ts_side(); return; }
  leave(0);
}

static void a_stop_timeout(void) {
  say(L_WARN, "still running %ld ms after the stop signal: killing", P.stop_timeout_ms);
  os_kill(&P, &R);
  t_stop = 0;
}

static void a_reload(void) { service_ask("reload"); }

static void a_unchanged(void) { emperor_announce(); }

static void a_changed_running(void) {
  say(L_INFO, "spec changed: restarting the container in place");
  reload_after_stop = 1;
  begin_stop();
}

static void a_changed_idle(void) {
  say(L_INFO, "spec changed: starting the container");
  count = (struct restart_count){ 0, 0 };
  a_prepare();
}

static void a_respawn(void) {
  say_event(L_WARN, "vassal-exit", "container died: exiting so the Emperor respawns it");
  leave(1);
}

static void a_stay(void) {
  say(L_INFO, "container finished; not restarted by its policy");
  S.phase = PH_IDLE;
  status_write(&P, &S);
  emperor_announce();
}

static void a_released(void) {
  if (reload_after_stop) {
    reload_after_stop = 0;
    stop_asked = 0;
    loyal = 0;
    S.run++;
    a_prepare();
    return;
  }
  leave(P.mode == MODE_EMPEROR && !stop_asked ? 1 : 0);
}

static void a_backoff_done(void) {
  t_backoff = 0;
  S.run++;
  S.restarts++;
  start_run();
}

static void a_retry(void) {
  t_retry = 0;
  service_ask("prepare");
}

/* vessel up went away. A running container carries on; what needs a decision leaves instead. */
static void a_service_lost_running(void) {
  /* a stop that was waiting for vessel up's word goes on without it */
  if (stop_cleared && S.phase != PH_STOPPING) { begin_stop(); return; }
  say(L_WARN, "without vessel up the container keeps running; a later stop or death ends this monitor");
}

static void a_service_lost_waiting(void) {
  /* the line that said why was written where the loss was seen: one line per failure */
  leave(1);
}

static void a_service_lost_ended(void) {
  /* the answer to "exited" will not come: decide what the Emperor must hear without it */
  leave(P.mode == MODE_EMPEROR && !stop_asked ? 1 : 0);
}

/* ---------- a zero-downtime reload: the next run beside the current one ---------- */

/*
 * When vessel up answers a reload with "surge" (the spec changed, the container publishes ports
 * and has a health check): the next run is started beside the current one, health-checked, the
 * published ports are switched to it in one atomic step (vessel up does that: one nft transaction,
 * one pf load), the current run gets DRAIN_MS for its connections in flight — and, when it has a
 * relay (Linux, [::1]), until that relay has finished every connection it accepted, at most
 * stop_timeout more — then its stop signal, and the next run becomes the current one. A next run
 * that dies, or is not healthy by the deadline, is stopped and released: the current one never
 * stopped serving. Its own small table, surge_actions[phase][event], beside the main one; the main
 * state stays "running" throughout.
 */
#define DRAIN_MS 1000
/* what a start may take beyond its health check's own budget (a slow start wants start_period) */
#define SURGE_START_MS 3000

enum surge_phase { SG_NONE, SG_PREPARING, SG_STARTING, SG_CHECKING, SG_SWITCHING, SG_DRAINING, SG_RETIRING, SG_ABANDONING, N_SG };
enum surge_event { SE_PLAN, SE_FAIL, SE_READY, SE_ENDED, SE_HEALTHY, SE_UNHEALTHY, SE_DEADLINE, SE_SWITCHED, SE_DRAINED, SE_OLD_ENDED, SE_RETIRED, SE_RELEASED, SE_CANCEL, N_SE };
static const char *const surge_phase_names[N_SG] = { "none", "preparing", "starting", "checking", "switching", "draining", "retiring", "abandoning" };

static enum surge_phase surge;
static struct plan NP;
static struct run NR;
static int have_next;                /* NR holds a started run */
static struct status NS;             /* the next run's health, while it is checked */
static long long t_surge, t_drain, t_next_stop;
/*
 * The latest the current run waits for its relay (drain_due). The relay accepted its connections
 * itself and carries each to this run's container: stopping the container under one resets it,
 * and a connection can well be younger or slower than DRAIN_MS (a SYN the host dropped, with the
 * conntrack table full, say, is sent again a second later). It ends by itself once its last
 * connection is done (relay.c), so the wait is usually a few ms; a connection that is never done
 * (a client that keeps it open) holds the reload no longer than the run's stop_timeout.
 */
static long long t_drain_max;
static int stop_after_surge;         /* a stop came during the surge: it follows once the next run is gone */
static char surge_why[400];

static void surge_record(enum surge_phase ph) {
  surge = ph;
  /* a reload over: none of its timers may fire into the next one */
  if (ph == SG_NONE) t_surge = t_drain = t_drain_max = t_next_stop = 0;
  S.next_phase = ph == SG_NONE ? NULL : surge_phase_names[ph];
  S.next_run_id = NP.run_id;
  S.next_init = have_next ? NR.init : 0;
  S.next_leaf = NR.leaf;
  S.next_health = NS.health;
  if (have_plan) status_write(&P, &S);
}

/* Health on the current run again (after a surge that did not happen), its state kept. */
static void resume_current_health(void) {
  if (have_run && P.nhealth > 0) health_resume(&P, &R, &S, now_ms());
}

/* The next run is stopped (or never ran): tell vessel up, which releases what it prepared. */
static void surge_release(const char *why) {
  if (why != surge_why) snprintf(surge_why, sizeof surge_why, "%s", why);
  say(L_WARN, "reload rolled back: %s; the running container goes on", surge_why);
  if (have_next) {
    if (health_runs_on(&NR)) health_stop();
    os_finish(&NP, &NR);
    if (NR.chan >= 0) close(NR.chan);
    if (NR.watch >= 0) close(NR.watch);
    NR.chan = NR.watch = -1;
    have_next = 0;
  }
  surge_record(SG_ABANDONING);
  service_ask("abandon %ld %s", NR.index, surge_why);
}

static void se_prepare(void) {
  surge_why[0] = '\0';
  memset(&NS, 0, sizeof NS);
  plan_free(&NP);
  surge_record(SG_PREPARING);
  service_ask("prepare-next");
}

static void se_plan(void) {
  char err[512];
  memset(&NR, 0, sizeof NR);
  NR.index = S.run + 1;
  NR.chan = NR.watch = NR.master = -1;
  NR.main_code = -1;
  if (stop_after_surge) { surge_release("stopped during the reload"); return; }
  if (os_plan_load(&NP, ev_arg, err, sizeof err) < 0) { surge_release(err); return; }
  os_name_run(&NP, &NR);
  surge_record(SG_STARTING);
  if (os_start(&NP, &NR, err, sizeof err) < 0) {
    char why[560];
    snprintf(why, sizeof why, "the new container did not start: %s", err);
    have_next = 1; /* whatever os_start left (a cgroup, a killed child) goes with the release */
    surge_release(why);
    return;
  }
  have_next = 1;
  /* docker's rules for "never healthy": the start period, then a check per interval, each up to
   * its timeout, until the retries are spent; a little more for the start itself */
  long long budget = NP.health_start_period_ms + (NP.health_interval_ms + NP.health_timeout_ms) * (NP.health_retries + 1) + SURGE_START_MS;
  t_surge = now_ms() + budget;
  surge_record(SG_STARTING);
}

static void se_fail(void) {
  say(L_WARN, "reload: vessel up could not prepare the new container: %s; the running container goes on", ev_arg);
  surge_record(SG_NONE);
  emperor_announce();
  if (stop_after_surge) { stop_after_surge = 0; begin_stop(); }
}

static void se_ready(void) {
  /* the health runner follows the next run now: its first success is the signal to switch */
  health_start(&NP, &NR, &NS, now_ms());
  surge_record(SG_CHECKING);
  say(L_INFO, "reload: the new container runs (init %d); waiting until it is healthy", (int)NR.init);
}

static void se_next_died(void) {
  char why[600];
  snprintf(why, sizeof why, "the new container exited %d%s%s before it was healthy", NR.error_code ? NR.error_code : wait_code(NR.wait_status),
           NR.reason[0] ? ": " : "", NR.reason);
  surge_release(why);
}

static void se_give_up(void) {
  /* stopped like any run; its end (SE_ENDED in ABANDONING) releases it */
  os_signal(&NP, &NR, NP.stop_signal, 1);
  t_next_stop = now_ms() + NP.stop_timeout_ms;
  snprintf(surge_why, sizeof surge_why, "%s", ev_arg);
  if (health_runs_on(&NR)) health_stop();
  surge_record(SG_ABANDONING);
}

static void se_abandoned_ended(void) { surge_release(surge_why[0] ? surge_why : "the new container was stopped"); }

static void se_healthy(void) {
  /* its relay binds beside the current one's (SO_REUSEPORT) before the ports are switched */
  char err[512] = "", why[600];
  if (os_ports_start(&NP, &NR, err, sizeof err) < 0) {
    snprintf(why, sizeof why, "the new container's published ports cannot be served: %s", err);
    ev_arg = why;
    se_give_up();
    return;
  }
  say(L_INFO, "reload: the new container is healthy; switching the published ports to it");
  surge_record(SG_SWITCHING);
  service_ask("switch %ld", NR.index);
}

static void se_switched(void) {
  /* the current run's relay takes no new client from now on: they go to the next run's */
  os_ports_drain(&R);
  t_drain = now_ms() + DRAIN_MS;
  t_drain_max = t_drain + P.stop_timeout_ms;
  surge_record(SG_DRAINING);
}

/* When the current run may be stopped: DRAIN_MS after the switch, and once its relay is done (t_drain_max says why). */
static long long drain_due(void) {
  if (!t_drain) return 0;
  return R.relay > 0 ? t_drain_max : t_drain;
}

static void se_drained(void) {
  if (R.relay > 0) say(L_WARN, "reload: the old container's relay still carries connections %ld ms after the switch; they end with it", (long)(DRAIN_MS + P.stop_timeout_ms));
  t_drain_max = 0;
  os_signal(&P, &R, P.stop_signal, 1);
  t_stop = now_ms() + P.stop_timeout_ms;
  surge_record(SG_RETIRING);
}

static void se_old_ended(void) {
  long old = S.run;
  finish_run();
  service_ask("retired %ld", old);
}

/* The next run is the current one now: its plan, its run, its health; the old plan freed. */
static void se_retired(void) {
  plan_free(&P);
  P = NP;
  memset(&NP, 0, sizeof NP);
  R = NR;
  have_run = 1;
  have_next = 0;
  S.run = R.index;
  S.init_pid = R.init;
  S.relay_pid = R.relay;
  S.cgroup_leaf = R.leaf;
  S.started_ms = wall_ms();
  S.health = NS.health;
  S.health_streak = NS.health_streak;
  S.health_logs = NS.health_logs;
  memcpy(S.health_log, NS.health_log, sizeof S.health_log);
  os_promote(&P, &R);
  /* its checks go on, now against the current run's records (NP/NR/NS are reused) */
  health_rebind(&P, &R, &S);
  t_stop = 0;
  surge_record(SG_NONE);
  S.phase = PH_RUNNING;
  status_write(&P, &S);
  say(L_INFO, "reload done: the new container serves (run %ld, init %d)", S.run, (int)R.init);
  emperor_announce();
  if (stop_after_surge) { stop_after_surge = 0; begin_stop(); }
}

static void se_released(void) {
  surge_record(SG_NONE);
  if (stop_after_surge) { stop_after_surge = 0; begin_stop(); return; }
  resume_current_health();
  emperor_announce();
}

/* A stop (or the Emperor gone) during the surge: the next run goes first, then the stop. */
static void se_cancel_next(void) {
  stop_after_surge = 1;
  if (have_next) {
    os_kill(&NP, &NR);
    snprintf(surge_why, sizeof surge_why, "stopped during the reload");
    surge_record(SG_ABANDONING);
  }
}

/* Stopped before the switch was asked for: the next run goes, then the current one. */
static void se_cancel_after_switch(void) {
  /* the ports are (being) switched: the next run is the one serving; stop both, old first */
  stop_after_surge = 1;
}

typedef void (*surge_action)(void);
static const surge_action surge_actions[N_SG][N_SE] = {
  [SG_PREPARING] = { [SE_PLAN] = se_plan, [SE_FAIL] = se_fail, [SE_CANCEL] = se_cancel_next },
  [SG_STARTING] = { [SE_READY] = se_ready, [SE_ENDED] = se_next_died, [SE_DEADLINE] = se_give_up, [SE_CANCEL] = se_cancel_next },
  [SG_CHECKING] = { [SE_ENDED] = se_next_died, [SE_HEALTHY] = se_healthy, [SE_UNHEALTHY] = se_give_up, [SE_DEADLINE] = se_give_up, [SE_CANCEL] = se_cancel_next },
  [SG_SWITCHING] = { [SE_SWITCHED] = se_switched, [SE_FAIL] = se_give_up, [SE_CANCEL] = se_cancel_after_switch },
  [SG_DRAINING] = { [SE_DRAINED] = se_drained, [SE_CANCEL] = se_cancel_after_switch },
  [SG_RETIRING] = { [SE_OLD_ENDED] = se_old_ended, [SE_RETIRED] = se_retired, [SE_CANCEL] = se_cancel_after_switch },
  [SG_ABANDONING] = { [SE_ENDED] = se_abandoned_ended, [SE_RELEASED] = se_released, [SE_CANCEL] = se_cancel_next },
};

static void surge_fire(enum surge_event ev, const char *arg) {
  ev_arg = arg ? arg : "";
  surge_action a = surge_actions[surge][ev];
  if (a) a();
  else say(L_DEBUG, "surge event %d ignored while %s", (int)ev, surge_phase_names[surge]);
}

/* The main table's way in: vessel up answered the reload with "surge". */
static void a_surge(void) {
  if (surge != SG_NONE) return;
  say(L_INFO, "spec changed: starting the new container beside the running one");
  se_prepare();
}

typedef void (*action)(void);

/*
 * The whole behaviour: states (rows) × events (columns). An empty cell is an event that does not
 * change anything in that state (logged at debug).
 */
static const action actions[PH_FAILED + 1][N_EVENTS] = {
  [PH_PREPARING] = {
    [EV_PLAN] = a_plan, [EV_WAIT] = a_wait, [EV_IDLE] = a_idle, [EV_FAIL] = a_fail,
    [EV_STOP] = a_stop_idle, [EV_SERVICE_LOST] = a_service_lost_waiting,
  },
  [PH_WAITING] = {
    /* a retried prepare is answered like the first */
    [EV_PLAN] = a_plan, [EV_WAIT] = a_wait, [EV_IDLE] = a_idle, [EV_FAIL] = a_fail,
    [EV_RETRY] = a_retry, [EV_STOP] = a_stop_idle, [EV_RELOAD] = a_reload, [EV_CHANGED] = a_changed_idle,
    [EV_UNCHANGED] = a_unchanged, [EV_SERVICE_LOST] = a_service_lost_waiting,
  },
  [PH_STARTING] = {
    [EV_READY] = a_ready, [EV_ENDED] = a_ended, [EV_STOP] = a_stop_run, [EV_STOP_OK] = a_stop_ok, [EV_RELOAD] = a_reload,
    [EV_UNCHANGED] = a_unchanged, [EV_CHANGED] = a_changed_running, [EV_SERVICE_LOST] = a_service_lost_running,
  },
  [PH_RUNNING] = {
    [EV_STOP_TIMEOUT] = a_stop_timeout, [EV_ENDED] = a_ended, [EV_STOP] = a_stop_run, [EV_STOP_OK] = a_stop_ok, [EV_RELOAD] = a_reload, [EV_UNCHANGED] = a_unchanged,
    [EV_CHANGED] = a_changed_running, [EV_SURGE] = a_surge, [EV_SERVICE_LOST] = a_service_lost_running,
  },
  [PH_STOPPING] = {
    [EV_ENDED] = a_ended, [EV_STOP_TIMEOUT] = a_stop_timeout, [EV_SERVICE_LOST] = a_service_lost_running,
  },
  [PH_EXITED] = {
    [EV_RESPAWN] = a_respawn, [EV_STAY] = a_stay, [EV_RELEASED] = a_released, [EV_FAIL] = a_fail,
    [EV_STOP] = a_stop_idle, [EV_SERVICE_LOST] = a_service_lost_ended,
  },
  [PH_BACKOFF] = {
    [EV_BACKOFF_DONE] = a_backoff_done, [EV_STOP] = a_stop_idle,
  },
  [PH_IDLE] = {
    [EV_STOP] = a_stop_idle, [EV_RELOAD] = a_reload, [EV_UNCHANGED] = a_unchanged, [EV_CHANGED] = a_changed_idle,
    [EV_SERVICE_LOST] = a_service_lost_running,
  },
};

static void fire(enum event ev, const char *arg) {
  if (ev == EV_STOP && surge != SG_NONE) { surge_fire(SE_CANCEL, NULL); return; }
  if (ev == EV_ENDED && surge != SG_NONE) {
    if (surge == SG_SWITCHING || surge == SG_DRAINING || surge == SG_RETIRING) {
      /* the current run is going (or gone) while the next one takes over: its retirement */
      if (surge != SG_RETIRING) surge_record(SG_RETIRING);
      surge_fire(SE_OLD_ENDED, NULL);
      return;
    }
    /* the current run died during the reload: the next one goes, then the death is handled */
    if (have_next) surge_release("the running container died during the reload");
    surge_record(SG_NONE);
  }
  ev_arg = arg ? arg : "";
  action a = actions[S.phase][ev];
  if (a) a();
  else say(L_DEBUG, "event %s ignored while %s", event_names[ev], phase_name(S.phase));
}

/* ---------- inputs ---------- */


static void install_signals(void) {
  static const int caught[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };
  if (selfpipe_install(caught, sizeof caught / sizeof *caught) < 0) { say(L_ERROR, "pipe: %s", strerror(errno)); exit(125); }
  signal(SIGPIPE, SIG_IGN);
}

static void restore_tty(void) {
  if (tio_saved) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
  tio_saved = 0;
}

/* A process ended (SIGCHLD, or the OS half's report): a run's relay or init, or a health check. */
static void process_ended(pid_t w, int st) {
  if (have_run && os_ports_ended(&R, w, st)) { S.relay_pid = 0; status_write(&P, &S); return; }
  if (have_next && os_ports_ended(&NR, w, st)) return;
  if (have_run && w == R.init) {
    R.reaped = 1;
    R.wait_status = st;
    t_empty = now_ms() + EMPTY_GRACE_MS;
  } else if (have_next && w == NR.init) {
    NR.reaped = 1;
    NR.wait_status = st;
  } else health_reaped(w, st);
}

static void on_signals(void) {
  selfpipe_drain();
  for (int sig = 1; sig < 65; sig++) {
    if (!selfpipe_take(sig)) continue;
    if (sig == SIGCHLD) {
      int st;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0) process_ended(w, st);
      continue;
    }
    if (sig == SIGWINCH) {
      struct winsize ws;
      if (have_run && R.master >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(R.master, TIOCSWINSZ, &ws);
      continue;
    }
    if (sig == SIGHUP && P.mode != MODE_FOREGROUND) continue; /* the terminal that started us went away */
    if (sig == SIGTERM || sig == SIGINT) {
      int asked = stop_marker_exists(); /* `vessel stop` from elsewhere */
      if (P.mode == MODE_FOREGROUND && !P.on_signal_stop && !asked && have_run) { os_signal(&P, &R, sig, 0); continue; }
      fire(EV_STOP, NULL);
      continue;
    }
    /* Anything else is meant for the command: the init forwards it (docker's sig-proxy). */
    if (have_run) os_signal(&P, &R, sig, 0);
  }
}

/* Lines from a run's init: "ready", "main-exit N", "error MSG", "notfound MSG", "cannotrun MSG". */
static void on_channel(struct run *run, int next) {
  for (;;) {
    ssize_t r = read(run->chan, run->chanbuf + run->chanlen, sizeof run->chanbuf - 1 - run->chanlen);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r <= 0) { close(run->chan); run->chan = -1; return; }
    run->chanlen += (size_t)r;
    char *nl;
    while ((nl = memchr(run->chanbuf, '\n', run->chanlen))) {
      *nl = '\0';
      char *line = run->chanbuf;
      if (!strcmp(line, "ready")) {
        run->ready = 1;
        if (next) surge_fire(SE_READY, NULL); else fire(EV_READY, NULL);
      }
      else if (!strncmp(line, "main-exit ", 10)) run->main_code = atoi(line + 10);
      else if (!strncmp(line, "error ", 6)) { snprintf(run->reason, sizeof run->reason, "%s", line + 6); run->error_code = 125; }
      else if (!strncmp(line, "notfound ", 9)) { snprintf(run->reason, sizeof run->reason, "%s", line + 9); run->error_code = 127; }
      else if (!strncmp(line, "cannotrun ", 10)) { snprintf(run->reason, sizeof run->reason, "%s", line + 10); run->error_code = 126; }
      size_t used = (size_t)(nl - run->chanbuf) + 1;
      memmove(run->chanbuf, nl + 1, run->chanlen - used);
      run->chanlen -= used;
    }
    if (run->chanlen == sizeof run->chanbuf - 1) run->chanlen = 0; /* a runaway line: drop it */
    if (run->chan < 0) return;
  }
}

static void on_emperor(void) {
  unsigned char buf[64];
  ssize_t r = read(emperor, buf, sizeof buf);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r <= 0) {
    say(L_INFO, "the Emperor closed its socket: stopping");
    close(emperor);
    emperor = -1;
    fire(EV_STOP, NULL);
    return;
  }
  for (ssize_t i = 0; i < r; i++) {
    enum emperor_command c = emperor_decode(buf[i]);
    if (c == EMPEROR_STOP) fire(EV_STOP, NULL);
    else if (c == EMPEROR_RELOAD) fire(EV_RELOAD, NULL);
  }
}

/* What the service said, matched with what we asked. */
static void on_reply(const char *req, char *line) {
  char *arg = strchr(line, ' ');
  if (arg) *arg++ = '\0'; else arg = line + strlen(line);
  int known = 1;
  if (!strcmp(req, "hello") || !strcmp(req, "started") || !strcmp(req, "bye")) known = !strcmp(line, "ok");
  else if (!strcmp(req, "prepare")) {
    if (!strcmp(line, "plan")) fire(EV_PLAN, arg);
    else if (!strcmp(line, "wait")) fire(EV_WAIT, arg);
    else if (!strcmp(line, "idle")) fire(EV_IDLE, arg);
    else if (!strcmp(line, "fail")) fire(EV_FAIL, arg);
    else known = 0;
  } else if (!strcmp(req, "exited")) {
    if (!strcmp(line, "respawn")) fire(EV_RESPAWN, arg);
    else if (!strcmp(line, "idle")) fire(EV_STAY, arg);
    else if (!strcmp(line, "released")) fire(EV_RELEASED, arg);
    else if (!strcmp(line, "fail")) fire(EV_FAIL, arg);
    else known = 0;
  } else if (!strcmp(req, "reload")) {
    if (!strcmp(line, "unchanged")) fire(EV_UNCHANGED, arg);
    else if (!strcmp(line, "changed")) fire(EV_CHANGED, arg);
    else if (!strcmp(line, "surge")) fire(EV_SURGE, arg);
    else known = 0;
  } else if (!strcmp(req, "prepare-next")) {
    if (!strcmp(line, "plan")) surge_fire(SE_PLAN, arg);
    else if (!strcmp(line, "fail")) surge_fire(SE_FAIL, arg);
    else known = 0;
  } else if (!strcmp(req, "switch")) {
    if (!strcmp(line, "switched")) surge_fire(SE_SWITCHED, arg);
    else if (!strcmp(line, "fail")) surge_fire(SE_FAIL, arg);
    else known = 0;
  } else if (!strcmp(req, "retired")) {
    if (!strcmp(line, "ok")) surge_fire(SE_RETIRED, arg);
    else known = 0;
  } else if (!strcmp(req, "abandon")) {
    if (!strcmp(line, "released")) surge_fire(SE_RELEASED, arg);
    else known = 0;
  } else if (!strcmp(req, "release")) {
    if (!strcmp(line, "released")) {
      /* a handed-off run's user hears why it ended, as from the CLI that used to wait */
      if (P.mode == MODE_FOREGROUND && *arg) dprintf(STDERR_FILENO, "vessel: %s\n", arg);
      leave(final_code());
    } else known = 0;
  } else if (!strcmp(req, "health")) {
    known = !strcmp(line, "ok");
  } else if (!strcmp(req, "stop")) {
    if (!strcmp(line, "ok")) fire(EV_STOP_OK, arg);
    else known = 0;
  }
  if (!known) {
    if (!strcmp(line, "error")) say(L_ERROR, "vessel up refused \"%s\": %s", req, arg);
    else say(L_ERROR, "vessel up answered \"%s\" with something this monitor does not understand: \"%.200s\"", req, line);
    service_close(&SV);
    if (P.mode != MODE_EMPEROR) { service_gone_outside_emperor(); return; }
    fire(EV_SERVICE_LOST, NULL);
  }
}

static void on_service(void) {
  char line[SERVICE_LINE_MAX + 1];
  for (;;) {
    char req[64];
    snprintf(req, sizeof req, "%s", SV.request);
    int r = service_read(&SV, line, sizeof line);
    if (r == 0) return;
    if (r < 0) {
      say(P.mode == MODE_EMPEROR ? L_ERROR : L_WARN, "lost vessel up: %s", line);
      service_close(&SV);
      if (P.mode != MODE_EMPEROR) { service_gone_outside_emperor(); return; }
      fire(EV_SERVICE_LOST, NULL);
      return;
    }
    on_reply(req, line);
    service_flush();
    if (SV.fd < 0 || exit_code >= 0) return;
  }
}

/* ---------- the loop ---------- */

static long long next_deadline(void) {
  long long d = 0;
  long long ts[] = { t_stop, t_backoff, t_loyal, announced ? t_heartbeat : 0, t_retry, t_empty, SV.pending ? SV.deadline_ms : 0, health_deadline(),
                     t_surge, drain_due(), t_next_stop };
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) if (ts[i] && (!d || ts[i] < d)) d = ts[i];
  return d;
}

static void on_timers(void) {
  long long now = now_ms();
  if (t_stop && now >= t_stop) fire(EV_STOP_TIMEOUT, NULL);
  if (t_backoff && now >= t_backoff) { t_backoff = 0; fire(EV_BACKOFF_DONE, NULL); }
  if (t_retry && now >= t_retry) { t_retry = 0; fire(EV_RETRY, NULL); }
  if (t_loyal && now >= t_loyal) {
    t_loyal = 0;
    loyal = 1;
    emperor_send(emperor, TO_EMPEROR_LOYAL);
    emperor_send(emperor, TO_EMPEROR_ACCEPTING);
    say(L_INFO, "running for %ld ms: loyal", P.min_uptime_ms);
  }
  if (announced && t_heartbeat && now >= t_heartbeat) {
    if (health_allows_heartbeat(&S)) emperor_send(emperor, TO_EMPEROR_HEARTBEAT);
    t_heartbeat = now + heartbeat_ms;
  }
  if (SV.pending && now >= SV.deadline_ms) {
    say(L_ERROR, "vessel up did not answer \"%s\" in time", SV.request);
    service_close(&SV);
    fire(EV_SERVICE_LOST, NULL);
  }
  if (t_drain && now >= drain_due()) { t_drain = 0; surge_fire(SE_DRAINED, NULL); }
  if (t_next_stop && now >= t_next_stop) { t_next_stop = 0; if (have_next) os_kill(&NP, &NR); }
  if (t_surge && now >= t_surge) {
    t_surge = 0;
    if (surge == SG_STARTING || surge == SG_CHECKING) {
      char why[160];
      snprintf(why, sizeof why, "the new container was not healthy within %lld ms", (long long)(NP.health_start_period_ms + (NP.health_interval_ms + NP.health_timeout_ms) * (NP.health_retries + 1) + SURGE_START_MS));
      surge_fire(SE_DEADLINE, why);
    }
  }
  if (have_next && health_runs_on(&NR)) {
    /* the health runner is the next run's from its start until it becomes the current one: while
     * it is checked its verdict decides the switch; after, its checks only go on */
    enum health_change hc = health_tick(now);
    if (hc != HEALTH_SAME) surge_record(surge);
    if (surge == SG_CHECKING && hc == HEALTH_BECAME_HEALTHY) { t_surge = 0; surge_fire(SE_HEALTHY, NULL); }
    else if (surge == SG_CHECKING && hc == HEALTH_BECAME_UNHEALTHY) { t_surge = 0; surge_fire(SE_UNHEALTHY, "the new container became unhealthy"); }
  } else if (have_run && health_runs_on(&R)) {
    int was_loyal_candidate = emperor >= 0 && !loyal && S.phase == PH_RUNNING;
    enum health_change hc = health_tick(now);
    if (hc != HEALTH_SAME) status_write(&P, &S);
    if (hc == HEALTH_BECAME_HEALTHY || hc == HEALTH_BECAME_UNHEALTHY) {
      if (SV.fd >= 0 && P.mode == MODE_EMPEROR) service_ask("health %ld %s", S.run, S.health);
      if (hc == HEALTH_BECAME_HEALTHY && was_loyal_candidate) {
        loyal = 1;
        emperor_send(emperor, TO_EMPEROR_LOYAL);
        emperor_send(emperor, TO_EMPEROR_ACCEPTING);
        say(L_INFO, "healthy: loyal");
      }
      if (hc == HEALTH_BECAME_UNHEALTHY && P.health_restart && S.phase == PH_RUNNING) {
        say(L_WARN, "unhealthy: restarting by its restart policy");
        os_signal(&P, &R, P.stop_signal, 1);
        t_stop = now + P.stop_timeout_ms;
      }
    }
  }
}

static void run_loop(void) {
  while (exit_code < 0) {
    struct pollfd pf[12];
    int n = 0, i_sig, i_emp = -1, i_srv = -1, i_chan = -1, i_watch = -1, i_health = -1, i_os = -1;
    i_sig = n; pf[n++] = (struct pollfd){ .fd = selfpipe_read_fd(), .events = POLLIN };
    if (emperor >= 0) { i_emp = n; pf[n++] = (struct pollfd){ .fd = emperor, .events = POLLIN }; }
    if (SV.fd >= 0) { i_srv = n; pf[n++] = (struct pollfd){ .fd = SV.fd, .events = POLLIN }; }
    if (have_run && R.chan >= 0) { i_chan = n; pf[n++] = (struct pollfd){ .fd = R.chan, .events = POLLIN }; }
    if (have_run && R.watch >= 0 && R.reaped) { i_watch = n; pf[n++] = (struct pollfd){ .fd = R.watch, .events = POLLIN }; }
    int i_nchan = -1;
    if (have_next && NR.chan >= 0) { i_nchan = n; pf[n++] = (struct pollfd){ .fd = NR.chan, .events = POLLIN }; }
    if (have_run && R.master >= 0) n += term_relay_poll(&TR, pf + n, n);
    int hfd = health_fd();
    if (hfd >= 0) { i_health = n; pf[n++] = (struct pollfd){ .fd = hfd, .events = POLLIN }; }
    int ofd = os_event_fd();
    if (ofd >= 0) { i_os = n; pf[n++] = (struct pollfd){ .fd = ofd, .events = POLLIN }; }

    long long d = next_deadline();
    int timeout = -1;
    if (d) { long long left = d - now_ms(); timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left; }
    /* a reaped init whose cgroup has no watch (yet): look again soon */
    int polling = (have_run && R.reaped && R.watch < 0) || (have_next && NR.reaped);
    if (polling && (timeout < 0 || timeout > 20)) timeout = 20;
    int r = poll(pf, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) { say(L_ERROR, "poll: %s", strerror(errno)); leave(125); break; }
    if (r > 0 && (pf[i_sig].revents & POLLIN)) on_signals();
    if (exit_code >= 0) break;
    if (i_emp >= 0 && r > 0 && (pf[i_emp].revents & (POLLIN | POLLHUP | POLLERR)) && emperor >= 0) on_emperor();
    if (i_srv >= 0 && r > 0 && (pf[i_srv].revents & (POLLIN | POLLHUP | POLLERR)) && SV.fd >= 0) on_service();
    if (i_chan >= 0 && r > 0 && (pf[i_chan].revents & (POLLIN | POLLHUP | POLLERR)) && have_run && R.chan >= 0) on_channel(&R, 0);
    if (i_nchan >= 0 && r > 0 && (pf[i_nchan].revents & (POLLIN | POLLHUP | POLLERR)) && have_next && NR.chan >= 0) on_channel(&NR, 1);
    if (i_watch >= 0 && r > 0 && (pf[i_watch].revents & POLLIN) && have_run && R.watch >= 0) os_watch_drain(&R);
    if (i_health >= 0 && r > 0 && (pf[i_health].revents & (POLLIN | POLLHUP))) health_output();
    if (r > 0 && have_run && R.master >= 0 && term_relay_events(&TR, pf) < 0) {
      term_relay_end(&TR);
      close(R.master);
      R.master = -1;
    }
    if (i_os >= 0 && r > 0 && (pf[i_os].revents & (POLLIN | POLLHUP | POLLERR))) {
      pid_t w;
      int st;
      while (os_next_exit(&P, &R, &w, &st)) process_ended(w, st);
    }
    if (have_run && R.reaped) {
      if (os_empty(&P, &R)) fire(EV_ENDED, NULL);
      else if (t_empty && now_ms() >= t_empty) {
        say(L_WARN, "processes left after the container's init exited: killing them");
        os_kill(&P, &R);
        t_empty = now_ms() + EMPTY_GRACE_MS;
      }
    }
    if (have_next && NR.reaped && os_empty(&NP, &NR)) surge_fire(SE_ENDED, NULL);
    if (service_lost && exit_code < 0) {
      service_lost = 0;
      /* as when its socket closes (on_service) */
      if (P.mode != MODE_EMPEROR) service_gone_outside_emperor();
      else fire(EV_SERVICE_LOST, NULL);
    }
    on_timers();
  }
}

/* ---------- entry points ---------- */

void monitor_child_reset(void) {
  signals_default();
  /* the held directories too: a container's pid 1 (Linux) must hold nothing of the host's tree */
  int fds[] = { selfpipe_read_fd(), selfpipe_write_fd(), emperor, SV.fd, report, stop_dir.fd, out_fd != STDOUT_FILENO ? out_fd : -1 };
  for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) if (fds[i] >= 0) close(fds[i]);
  stop_dir.fd = -1;
  status_close_dir();
}


static void common_setup(void) {
  say_level_from_env();
  install_signals();
  SV.fd = -1;
  memset(&S, 0, sizeof S);
  S.main_code = -1;
}

static void make_raw_tty(void) {
  if (!P.tty || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0) return;
  tio_saved = 1;
  struct termios raw = saved_tio;
  cfmakeraw(&raw);
  tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
}

int monitor_main(const char *plan_path) {
  /*
   * Before anything opens a descriptor: fd 3 is the CLI's report pipe only if it was open when we
   * were exec'd (a front end that execs this monitor passes none, and the self-pipe would be 3).
   */
  if (fcntl(REPORT_FD, F_GETFD) >= 0) {
    report = REPORT_FD;
    fcntl(report, F_SETFD, FD_CLOEXEC);
  }
  common_setup();
  char err[512];
  if (plan_load(&P, plan_path, err, sizeof err) < 0) {
    say(L_ERROR, "%s", err);
    report_line("error %s (exit %ld)\n", err, 125);
    return 125;
  }
  have_plan = 1;
  say_context("container", P.name ? P.name : "?");
  if (P.mode == MODE_EMPEROR) {
    say(L_ERROR, "plan %s is for an Emperor vassal: run it with `vessel-init vassal`", plan_path);
    return 125;
  }
  if (os_setup(&P, err, sizeof err) < 0) {
    say(L_ERROR, "%s", err);
    snprintf(S.note, sizeof S.note, "%s", err);
    S.exit_code = 125;
    set_phase(PH_FAILED);
    report_line("error %s (exit %ld)\n", err, 125);
    return 125;
  }
  /* handed off: vessel up hears of the start and is asked for the release (held in the sandbox) */
  if (handed_off()) service_open_monitor();
  /* docker's rule: without -i the container's stdin is empty, whoever exec'd this monitor */
  if (P.mode == MODE_FOREGROUND && !P.interactive && !P.tty) {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0 && null != STDIN_FILENO) { dup2(null, STDIN_FILENO); close(null); }
  }
  if (P.tty) {
    make_raw_tty();
    int copy = os_nonblocking_copy(STDOUT_FILENO);
    if (copy >= 0) out_fd = copy;
  }
  enter_sandbox();
  start_run();
  run_loop();
  restore_tty();
  if (report >= 0) report_line("error %s (exit %ld)\n", S.reason[0] ? S.reason : "the monitor ended before the container started", S.exit_code ? S.exit_code : 125);
  return exit_code < 0 ? 125 : exit_code;
}

int vassal_main(const char *file) {
  common_setup();
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  snprintf(vassal_name, sizeof vassal_name, "%s", base);
  char *dot = strstr(vassal_name, ".vessel");
  if (dot && !dot[7]) *dot = '\0';
  say_context("container", vassal_name);
  const char *hb = getenv("VESSEL_HEARTBEAT");
  if (hb && atol(hb) >= 1) heartbeat_ms = atol(hb) * 1000;
  emperor = emperor_fd_from_env();
  P.mode = MODE_EMPEROR;
  P.name = vassal_name;
  const char *sock = getenv("VESSEL_SERVICE");
  char err[512];
  if (!sock || !*sock) {
    say(L_ERROR, "VESSEL_SERVICE is not set: this vassal must be run by vessel up's Emperor");
    return 1;
  }
  if (service_connect(&SV, sock, err, sizeof err) < 0) {
    say(L_ERROR, "%s", err);
    return 1;
  }
  char abs[4096];
  if (file[0] != '/' && getcwd(abs, sizeof abs - 300)) {
    size_t l = strlen(abs);
    snprintf(abs + l, sizeof abs - l, "/%s", file);
  } else snprintf(abs, sizeof abs, "%s", file);
  service_ask("hello %d vassal %d %s", SERVICE_PROTOCOL, (int)getpid(), abs);
  a_prepare();
  run_loop();
  if (SV.fd >= 0 && exit_code == 0) service_ask("bye");
  service_close(&SV);
  return exit_code < 0 ? 1 : exit_code;
}
