/* libpq loaded at run time (see pg_lib.h). */
#include "pg_lib.h"
#include "pkie/error.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

static struct pkie_pq pq;
static int pq_ok;
static char pq_err[256];
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const struct {
        const char *name;
        size_t off;
    } syms[] = {
#define S(f, n) {#n, offsetof(struct pkie_pq, f)}
        S(connectdbParams, PQconnectdbParams),
        S(status, PQstatus),
        S(errorMessage, PQerrorMessage),
        S(finish, PQfinish),
        S(exec, PQexec),
        S(prepare, PQprepare),
        S(execPrepared, PQexecPrepared),
        S(execParams, PQexecParams),
        S(resultStatus, PQresultStatus),
        S(resultErrorField, PQresultErrorField),
        S(resultErrorMessage, PQresultErrorMessage),
        S(clear, PQclear),
        S(ntuples, PQntuples),
        S(getvalue, PQgetvalue),
        S(getlength, PQgetlength),
        S(getisnull, PQgetisnull),
        S(cmdTuples, PQcmdTuples),
        S(conninfoParse, PQconninfoParse),
        S(conninfoFree, PQconninfoFree),
        S(freemem, PQfreemem),
#undef S
    };
    void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(pq_err, sizeof(pq_err), "cannot load libpq.so.5 (Debian: libpq5): %s", dlerror());
        return;
    }
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *f = dlsym(h, syms[i].name);
        if (f == NULL) {
            snprintf(pq_err, sizeof(pq_err), "libpq.so.5 lacks %s", syms[i].name);
            return; /* h stays loaded: harmless, and dlclose could race other users */
        }
        *(void **)((char *)&pq + syms[i].off) = f;
    }
    pq_ok = 1;
}

const struct pkie_pq *pkie_pq(void)
{
    pthread_once(&pq_once, load);
    if (!pq_ok) {
        PKIE_ERR(PKIE_ERR_CA_DB, "%s", pq_err);
        return NULL;
    }
    return &pq;
}
