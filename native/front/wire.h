/*
 * wire.h: the front end's side of the CLI lines of vessel up's service (src/service/cli.ts is the
 * other): one line per message, TEXT escaped so a line carries any bytes.
 */
#ifndef VESSEL_FRONT_WIRE_H
#define VESSEL_FRONT_WIRE_H

#include <stddef.h>

/* The protocol's longest line (src/service/protocol.ts LINE_MAX). */
#define WIRE_LINE_MAX 4096

/*
 * Appends "VERB ESCAPED(TEXT)\n" to OUT (capacity CAP, length *LEN). -1 when the line would be
 * longer than WIRE_LINE_MAX or OUT is full: the caller then asks the Node CLI instead.
 */
int wire_put(char *out, size_t cap, size_t *len, const char *verb, const char *text);

/* Decodes TEXT in place (\\ and \xHH); returns its length in bytes, -1 when it is malformed. */
long wire_unescape(char *text);

struct wire_reader {
  int fd;
  char buf[65536];
  size_t len, off;
};

/* The next line (NUL-terminated, no newline) into *LINE: 1, 0 at a clean EOF, -1 on an error or an over-long line. */
int wire_read_line(struct wire_reader *r, char **line);

#endif
