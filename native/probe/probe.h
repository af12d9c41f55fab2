/*
 * vessel-probe: the program `vessel selftest` runs inside each case's container (bind-mounted
 * read-only from vessel's libexec directory, so no image needs any tool) and, for the network
 * cases, on the host. Statically linked: it runs in a busybox image, a FreeBSD /rescue image or
 * any other. Each step does one thing a user relies on a container for and reports what the
 * kernel answered as one line, `STEP … RESULT`, which the case compares with the spec it set:
 *
 *   vessel-probe [-o FILE] STEP [-- STEP]...
 *
 * The steps (one file per concern: process.c, files.c, identity.c, memory.c, net.c) are small on purpose: the model FreeBSD host of the tests
 * answers the same vocabulary (test/helpers/freebsd-probe.ts), so the contract means the same on
 * a model, on Linux and on a user's FreeBSD.
 */
#ifndef VESSEL_PROBE_H
#define VESSEL_PROBE_H

/* One report line on the output (the container's log, or -o FILE), written at once. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_fd(int fd);

/* errno as its name (EROFS, EAGAIN …), so a report reads the same on every OS. */
const char *errno_name(int e);
/* "HUP", "TERM", "USR2" … → the signal's number on this OS; -1 if not one the probe knows. */
int signal_number(const char *name);
const char *signal_label(int sig);

/*
 * A step: ARGS are its words up to the next "--". Returns 0 to go on with the next step; a step
 * that ends the process (exit, catch, serve …) never returns; -1 is a usage error.
 */
int step_process(const char *verb, int argc, char **argv);
int step_files(const char *verb, int argc, char **argv);
int step_identity(const char *verb, int argc, char **argv);
int step_memory(const char *verb, int argc, char **argv);
int step_net(const char *verb, int argc, char **argv);

/* A step that did not recognise VERB returns this, so the next family is asked. */
#define STEP_UNKNOWN 1

#endif
