/* Small filesystem steps shared by the monitor's OS halves. */
#ifndef VESSEL_FS_H
#define VESSEL_FS_H

#include <sys/types.h>

/* mkdir -p: every missing directory of PATH with MODE; 0, or -1 with errno. Relative to the
 * current root (inside a container after pivot_root, symlinks resolve within it). */
int mkdir_p(const char *path, mode_t mode);

#endif
