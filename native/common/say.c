/* Log lines (say.h says why JSON). */
#include "say.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static char ctx_key[16] = "container";
static char ctx_value[320];
static enum level threshold = L_INFO;

void say_context(const char *key, const char *value) {
  snprintf(ctx_key, sizeof ctx_key, "%s", key);
  json_escape(value, ctx_value, sizeof ctx_value);
}

void say_level_from_env(void) {
  const char *v = getenv("VESSEL_LOG_LEVEL");
  if (!v) return;
  if (!strcmp(v, "debug") || !strcmp(v, "trace")) threshold = L_DEBUG;
  else if (!strcmp(v, "warn")) threshold = L_WARN;
  else if (!strcmp(v, "error")) threshold = L_ERROR;
  else if (!strcmp(v, "fatal") || !strcmp(v, "silent")) threshold = L_ERROR + 10;
}

void json_escape(const char *s, char *out, size_t outlen) {
  size_t o = 0;
  if (outlen == 0) return;
  for (; *s && o + 7 < outlen; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
    else if (ch == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
    else if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", ch);
    else out[o++] = (char)ch;
  }
  out[o] = '\0';
}

static void emit(enum level lv, const char *event, const char *fmt, va_list ap) {
  if (lv < threshold) return;
  char msg[1024], esc[2048], ctx[400] = "", ev[96] = "", line[3072];
  vsnprintf(msg, sizeof msg, fmt, ap);
  json_escape(msg, esc, sizeof esc);
  if (*ctx_value) snprintf(ctx, sizeof ctx, ",\"%s\":\"%s\"", ctx_key, ctx_value);
  if (event) snprintf(ev, sizeof ev, ",\"event\":\"%s\"", event);
  struct timeval tv;
  gettimeofday(&tv, NULL);
  long long ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
  int n = snprintf(line, sizeof line, "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"component\":\"monitor\"%s%s,\"msg\":\"%s\"}\n",
                   (int)lv, ms, (int)getpid(), ctx, ev, esc);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) { n = (int)sizeof line - 1; line[n - 1] = '\n'; }
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}

void say(enum level lv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(lv, NULL, fmt, ap);
  va_end(ap);
}

void say_event(enum level lv, const char *event, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(lv, event, fmt, ap);
  va_end(ap);
}
