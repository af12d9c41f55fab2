/*
 * vessel-init: vessel's native helper, one binary for its verbs.
 *   vessel-init monitor PLAN            a container's monitor (foreground or detached run)
 *   vessel-init vassal --config F       the same, run by the uWSGI Emperor (asks vessel up for the plan)
 *   vessel-init exec CONFIG             a command inside a running container (Linux)
 *   vessel-init jail-exec -j JAIL …     a command inside a running jail (FreeBSD: `vessel exec`)
 * Started by vessel, not by hand; its configuration is written by vessel's TypeScript side.
 */
#include <stdio.h>
#include <string.h>

#include "monitor.h"
#include "os.h"

static int usage(void) {
  fprintf(stderr, "usage: vessel-init monitor PLAN | vassal --config NAME.vessel | exec CONFIG (Linux) | jail-exec -j JAIL … (FreeBSD) (started by vessel, not by hand)\n");
  return 125;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  if (!strcmp(argv[1], "monitor") && argc == 3) return monitor_main(argv[2]);
  if (!strcmp(argv[1], "vassal")) {
    /* uWSGI passes more than --config (e.g. --inherit): take the .vessel file, ignore the rest */
    for (int i = 2; i + 1 < argc; i++) if (!strcmp(argv[i], "--config")) return vassal_main(argv[i + 1]);
    for (int i = 2; i < argc; i++) if (!strncmp(argv[i], "--config=", 9)) return vassal_main(argv[i] + 9);
    fprintf(stderr, "vessel-init vassal: --config NAME.vessel is required\n");
    return 125;
  }
  int code = os_verb(argc, argv);
  return code >= 0 ? code : usage();
}
