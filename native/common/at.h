/*
 * Files the monitor keeps reaching for the whole life of its container (its status record, the
 * stop marker) are reached through a descriptor of their directory, opened once: openat(2),
 * faccessat(2) and renameat(2) on it work the same everywhere, and they keep working once the
 * monitor can no longer open a path at all (FreeBSD's capability mode, os_sandbox()).
 */
#ifndef VESSEL_AT_H
#define VESSEL_AT_H

struct held_dir {
  int fd;                /* -1 until the first use */
  char path[4096];       /* the directory it holds */
};

#define HELD_DIR_INIT { -1, "" }

/*
 * The directory of FILE, held in D (opened on first use, again when FILE moves to another
 * directory or the held one was removed). Returns FILE's name inside it, or NULL (errno set).
 */
const char *held_dir_for(struct held_dir *d, const char *file);

#endif
