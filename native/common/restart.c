/* restart.h says why this mirrors src/supervise/restart.ts. */
#include "restart.h"

static long delay_for(const struct plan *p, long quick_deaths) {
  if (quick_deaths <= 0) return 0;
  long d = p->backoff_base_ms;
  for (long i = 1; i < quick_deaths && d < p->backoff_max_ms; i++) d *= 2;
  return d < p->backoff_max_ms ? d : p->backoff_max_ms;
}

static int wanted(const struct plan *p, int code, long failures) {
  switch (p->restart) {
  case RESTART_NO: return 0;
  case RESTART_ALWAYS: return 1;
  case RESTART_ON_FAILURE: return code != 0 && (p->max_retries < 0 || failures <= p->max_retries);
  }
  return 0;
}

struct restart_decision decide_restart(const struct plan *p, int code, struct restart_count before, long uptime_ms) {
  struct restart_decision d;
  d.count.failures = code == 0 ? 0 : before.failures + 1;
  /* A run that stayed up long enough starts the back-off over. */
  d.count.quick_deaths = uptime_ms >= p->healthy_uptime_ms ? 1 : before.quick_deaths + 1;
  d.restart = wanted(p, code, d.count.failures);
  d.delay_ms = d.restart ? delay_for(p, d.count.quick_deaths) : 0;
  return d;
}
