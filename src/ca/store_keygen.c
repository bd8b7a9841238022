/* Store: which clients may ask for central key generation (table client_keygen).
 * The table is created on first use, so a database made before it needs no schema change;
 * a client without a row is denied (the default of `pkie ca client add`). */
#include "ca_internal.h"
#include "pkie/error.h"

#include <string.h>

#define KEYGEN_TABLE                                                                               \
    "CREATE TABLE IF NOT EXISTS client_keygen(ref TEXT PRIMARY KEY, allow INTEGER NOT NULL)"

int pkie_ca_store_keygen_set(struct pkie_ca_store *s, const char *ref, int allow)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = pkie_ca_db_exec(s, KEYGEN_TABLE);
    if (rc == 0)
        rc = pkie_ca_db_prepare(s, "INSERT OR REPLACE INTO client_keygen(ref, allow) VALUES(?, ?)",
                                &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, allow ? 1 : 0);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = pkie_ca_db_err(s, "client_keygen");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pkie_ca_store_keygen_get(struct pkie_ca_store *s, const char *ref, int *allow)
{
    sqlite3_stmt *st = NULL;
    *allow = 0;
    pthread_mutex_lock(&s->rmu);
    /* no table yet: nobody was ever granted central key generation */
    if (sqlite3_prepare_v2(s->rdb, "SELECT allow FROM client_keygen WHERE ref=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            *allow = sqlite3_column_int(st, 0) != 0;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rmu);
    return 0;
}
