/*
 * The restart decision of a detached container, the same table as src/supervise/restart.ts
 * (decideRestart): docker's meaning, its constants rendered into the plan by TypeScript, so the
 * rule lives in one place and this file only evaluates it. test/unit/native-common.test.ts runs
 * both over one matrix and compares.
 */
#ifndef VESSEL_RESTART_H
#define VESSEL_RESTART_H

#include "plan.h"

struct restart_count { long failures; long quick_deaths; };
struct restart_decision { int restart; long delay_ms; struct restart_count count; };

struct restart_decision decide_restart(const struct plan *p, int code, struct restart_count before, long uptime_ms);

#endif
