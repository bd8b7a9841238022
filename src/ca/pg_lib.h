/* libpq, loaded with dlopen the first time a PostgreSQL store is opened:
 * `pkie` itself never links it, so no other command pays for it (or needs
 * it installed). Types and constants come from libpq-fe.h at build time. */
#ifndef PKIE_CA_PG_LIB_H
#define PKIE_CA_PG_LIB_H

#include <libpq-fe.h>

/** The libpq functions the PostgreSQL store uses. */
struct pkie_pq {
    PGconn *(*connectdbParams)(const char *const *keywords, const char *const *values,
                               int expand_dbname);
    ConnStatusType (*status)(const PGconn *conn);
    char *(*errorMessage)(const PGconn *conn);
    void (*finish)(PGconn *conn);
    PGresult *(*exec)(PGconn *conn, const char *query);
    PGresult *(*prepare)(PGconn *conn, const char *name, const char *query, int n,
                         const Oid *types);
    PGresult *(*execPrepared)(PGconn *conn, const char *name, int n, const char *const *values,
                              const int *lengths, const int *formats, int result_format);
    PGresult *(*execParams)(PGconn *conn, const char *command, int n, const Oid *types,
                            const char *const *values, const int *lengths, const int *formats,
                            int result_format);
    ExecStatusType (*resultStatus)(const PGresult *res);
    char *(*resultErrorField)(const PGresult *res, int field);
    char *(*resultErrorMessage)(const PGresult *res);
    void (*clear)(PGresult *res);
    int (*ntuples)(const PGresult *res);
    char *(*getvalue)(const PGresult *res, int row, int col);
    int (*getlength)(const PGresult *res, int row, int col);
    int (*getisnull)(const PGresult *res, int row, int col);
    char *(*cmdTuples)(PGresult *res);
    PQconninfoOption *(*conninfoParse)(const char *conninfo, char **errmsg);
    void (*conninfoFree)(PQconninfoOption *opts);
    void (*freemem)(void *ptr);
};

/** libpq, loaded once (thread-safe); NULL with PKIE_ERR_CA_DB recorded when
 *  libpq.so.5 cannot be loaded or lacks a function. */
const struct pkie_pq *pkie_pq(void);

#endif
