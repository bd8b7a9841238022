/* Helpers shared by the CA unit tests: temporary directories and a test CA. */
#ifndef PKIE_CA_TEST_UTIL_H
#define PKIE_CA_TEST_UTIL_H

#include "pkie/ca.h"
#include "pkie/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR; the caller removes it with ca_test_rmdir. */
static inline char *ca_test_mkdtemp(void)
{
    const char *t = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/pkie-ca-test-XXXXXX", t != NULL ? t : "/tmp");
    char *d = mkdtemp(tmpl);
    return d != NULL ? strdup(d) : NULL;
}

static inline void ca_test_rmdir(char *dir)
{
    char cmd[600];
    if (dir == NULL)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

/* The store of the test CA in @p cadir: NULL (DIR/ca.db, SQLite) unless
 * PKIE_TEST_PG_DIR names a throwaway PostgreSQL cluster (tests/pg/pgcluster.sh,
 * started by the ctest fixture "pg"): then a connection string to a database
 * of that cluster named after @p cadir, created when @p create. The same
 * tests thus run on both backends. The string lives until the next call. */
static inline const char *ca_test_db(const char *cadir, int create)
{
    static char conn[8][512];
    static unsigned next;
    const char *dir = getenv("PKIE_TEST_PG_DIR"), *script = getenv("PKIE_TEST_PG_SCRIPT");
    if (dir == NULL || dir[0] == '\0')
        return NULL;
    unsigned long h = 5381;
    for (const char *p = cadir; *p != '\0'; p++)
        h = h * 33 + (unsigned char)*p;
    char name[64], cmd[1200];
    snprintf(name, sizeof(name), "t%d_%lx", (int)getpid(), h & 0xffffffffUL);
    if (create) {
        snprintf(cmd, sizeof(cmd), "sh '%s' createdb '%s' '%s'", script, dir, name);
        if (system(cmd) != 0)
            fprintf(stderr, "could not create database %s\n", name);
    }
    char *out = conn[next++ % 8];
    snprintf(out, sizeof(conn[0]), "host=%s/sock user=pkie dbname=%s", dir, name);
    return out;
}

/* On PostgreSQL (PKIE_TEST_PG_DIR), every row of the test CA's database in
 * @p cadir as pg_dump writes them (bytea as lower-case hex) into @p out:
 * 1 when written, 0 on SQLite (nothing to dump: the database is DIR/ca.db). */
static inline int ca_test_pg_dump(const char *cadir, const char *out)
{
    const char *dir = getenv("PKIE_TEST_PG_DIR"), *script = getenv("PKIE_TEST_PG_SCRIPT");
    const char *conn = ca_test_db(cadir, 0);
    if (conn == NULL)
        return 0;
    const char *name = strstr(conn, "dbname=") + 7;
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "sh '%s' dump '%s' '%s' >'%s'", script, dir, name, out);
    return system(cmd) == 0;
}

/* A client registration with the given patterns and secret "secret". */
static inline void ca_test_client(struct pkie_ca_client *c, const char *ref, const char *subj,
                                  const char *san)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->ref, sizeof(c->ref), "%s", ref);
    memcpy(c->secret, "secret", 6);
    c->secret_len = 6;
    snprintf(c->subject_pattern, sizeof(c->subject_pattern), "%s", subj);
    snprintf(c->san_pattern, sizeof(c->san_pattern), "%s", san);
    snprintf(c->profile, sizeof(c->profile), "default");
}

#endif
