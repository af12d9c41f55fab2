/*
 * alloc MIB: allocate MIB MiB one MiB at a time and touch every page, so the memory is resident
 * and counts against the container's limit. "allocating MIB MiB" first; then "alloc MIB MiB" when
 * all of it was given, or "alloc refused after K MiB" when malloc(3) said no (FreeBSD's rctl
 * vmemoryuse). Over a Linux memory.max the kernel's OOM killer ends the process instead, and the
 * container reports it. The memory is kept until the process ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

#define MIB (1024L * 1024L)

/* The chunks chained through their first word and kept here: the compiler cannot drop them. */
static void *volatile kept;

int step_memory(const char *verb, int argc, char **argv) {
  if (strcmp(verb, "alloc")) return STEP_UNKNOWN;
  char *end;
  errno = 0;
  long want = argc == 1 ? strtol(argv[0], &end, 10) : -1;
  if (argc != 1 || errno || *end != '\0' || want < 1 || want > 65536) return -1;
  report("allocating %ld MiB", want);
  for (long i = 0; i < want; i++) {
    char *p = malloc(MIB);
    if (p == NULL) {
      report("alloc refused after %ld MiB", i);
      return 0;
    }
    memset(p, 0x5a, MIB);
    *(void **)p = kept;
    kept = p;
  }
  report("alloc %ld MiB", want);
  return 0;
}
