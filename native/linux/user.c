/*
 * The command's user, resolved in the image's own /etc/passwd and /etc/group (after pivot_root,
 * so these are the container's files): the host's NSS modules cannot be used inside its root.
 * USER may be a name or a uid, each optionally :group (a name or a gid), as docker takes it.
 */
#include "linux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* Splits a passwd/group line at ':' into at most N fields; returns how many. */
static int fields_of(char *line, char **f, int n) {
  int k = 0;
  for (char *save = line, *t; k < n && (t = strsep(&save, ":")); ) f[k++] = t;
  if (k > 0) f[k - 1][strcspn(f[k - 1], "\n")] = '\0';
  return k;
}

static void supplementary_groups(const char *user, struct ids *id) {
  FILE *g = fopen("/etc/group", "re");
  if (!g) return;
  char line[4096];
  while (fgets(line, sizeof line, g) && id->ngroups < 64) {
    char *gf[4];
    if (fields_of(line, gf, 4) < 4) continue;
    for (char *m, *ms = gf[3]; (m = strsep(&ms, ",")); )
      if (!strcmp(m, user)) { id->groups[id->ngroups++] = (gid_t)atol(gf[2]); break; }
  }
  fclose(g);
}

static int group_by_name(const char *name, gid_t *gid) {
  FILE *g = fopen("/etc/group", "re");
  if (!g) return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, g)) {
    char *gf[4];
    if (fields_of(line, gf, 4) >= 3 && !strcmp(gf[0], name)) { *gid = (gid_t)atol(gf[2]); found = 1; }
  }
  fclose(g);
  return found;
}

void user_resolve(const struct plan *p, struct ids *id) {
  memset(id, 0, sizeof *id);
  char spec[256];
  snprintf(spec, sizeof spec, "%s", p->user && *p->user ? p->user : "0");
  char *grp = strchr(spec, ':');
  if (grp) *grp++ = '\0';
  int found = 0;
  FILE *f = fopen("/etc/passwd", "re");
  if (f) {
    char line[2048];
    while (!found && fgets(line, sizeof line, f)) {
      char *pf[7];
      if (fields_of(line, pf, 7) < 7) continue;
      int match = all_digits(spec) ? atol(pf[2]) == atol(spec) : !strcmp(pf[0], spec);
      if (!match) continue;
      id->uid = (uid_t)atol(pf[2]);
      id->gid = (gid_t)atol(pf[3]);
      snprintf(id->home, sizeof id->home, "%s", pf[5]);
      id->found_home = 1;
      found = 1;
      supplementary_groups(pf[0], id);
    }
    fclose(f);
  }
  if (!found) {
    if (!all_digits(spec)) die_setup("user \"%s\" not found in the image's /etc/passwd", spec);
    id->uid = (uid_t)atol(spec);
    id->gid = (gid_t)id->uid;
  }
  if (grp && *grp) {
    if (all_digits(grp)) id->gid = (gid_t)atol(grp);
    else if (!group_by_name(grp, &id->gid)) die_setup("group \"%s\" not found in the image's /etc/group", grp);
    id->ngroups = 0;
  }
}
