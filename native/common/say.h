/*
 * The monitor's log lines: one JSON object per line on stderr, pino's shape (level number, time
 * in ms, msg), so `vessel up` relays them through its own logger like every other vessel line,
 * and an operator reading the Emperor's output sees one format.
 */
#ifndef VESSEL_SAY_H
#define VESSEL_SAY_H

#include <stddef.h>

enum level { L_DEBUG = 20, L_INFO = 30, L_WARN = 40, L_ERROR = 50 };

/* The container (or vassal file) every line names; set once the plan is known. */
void say_context(const char *key, const char *value);
/* Lines below this level are not written (VESSEL_LOG_LEVEL: debug|info|warn|error). */
void say_level_from_env(void);
void say(enum level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like say(), with one extra string field (e.g. event=vassal-exit). */
void say_event(enum level lv, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* JSON string body of S (no quotes) into OUT; always NUL-terminated, cut at OUTLEN. */
void json_escape(const char *s, char *out, size_t outlen);

#endif
