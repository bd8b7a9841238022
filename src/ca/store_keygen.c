/* SQLite store: which clients may ask for central key generation (table
 * client_keygen, schema version 3); a client without a row is denied (the
 * default of `pkie ca client add`). */
#include "ca_internal.h"
#include "store_sq.h"

#include "pkie/error.h"

#include <string.h>

int pkie_ca_sq_keygen_set(struct pkie_ca_store *s, const char *ref, int allow)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc =
        pkie_ca_db_prepare(s, "INSERT OR REPLACE INTO client_keygen(ref, allow) VALUES(?, ?)", &st);
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

int pkie_ca_sq_keygen_get(struct pkie_ca_store *s, const char *ref, int *allow)
{
    sqlite3_stmt *st = NULL;
    *allow = 0;
    pthread_mutex_lock(&s->rmu);
    int rc = 0;
    if (sqlite3_prepare_v2(s->rdb, "SELECT allow FROM client_keygen WHERE ref=?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = PKIE_ERR(PKIE_ERR_CA_DB, "client_keygen: %s", sqlite3_errmsg(s->rdb));
    } else {
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW)
            *allow = sqlite3_column_int(st, 0) != 0;
        else if (step != SQLITE_DONE)
            rc = PKIE_ERR(PKIE_ERR_CA_DB, "client_keygen: %s", sqlite3_errmsg(s->rdb));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rmu);
    return rc;
}
