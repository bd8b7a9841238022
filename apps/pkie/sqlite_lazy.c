/* SQLite for the pkie executable, loaded when first used.
 *
 * The PKI base (src/pki) is SQLite, but most `pkie` processes never open it:
 * `pkie cmp`, run once per enrollment by scripts, is one of them. Linked as
 * a NEEDED library, libsqlite3 (built with BIND_NOW, like every Debian
 * library) costs every process its ~1,600 symbol relocations, libm and two
 * more mappings: 1.2M of the ~23M instructions of a `pkie cmp` IR process
 * (docs/dependencies.md, start-up). So the pkie executable does not link
 * libsqlite3; this file defines the sqlite3_* functions that src/pki calls
 * and forwards each to libsqlite3.so.0, opened with dlopen on the first
 * call. pkie-ca and the tests link libsqlite3 as usual (the
 * PKIE_LAZY_SQLITE target property, src/pki/CMakeLists.txt).
 *
 * A sqlite3_* function src/pki starts to use without an entry here is an
 * undefined reference when pkie links: add it to the list. When the library
 * cannot be loaded, sqlite3_open_v2 fails with SQLITE_CANTOPEN and
 * sqlite3_errmsg / sqlite3_errstr give dlopen's reason. */
#include <sqlite3.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef SQLITE_SONAME /* the tests name a missing one */
#define SQLITE_SONAME "libsqlite3.so.0"
#endif

/* SQ(return type, name, parameters, arguments, value when not loaded) */
#define SQLITE_FUNCTIONS                                                                           \
    SQ(int, sqlite3_open_v2, (const char *a, sqlite3 **b, int c, const char *d), (a, b, c, d),     \
       (*b = NULL, SQLITE_CANTOPEN))                                                               \
    SQ(int, sqlite3_close, (sqlite3 * a), (a), SQLITE_OK)                                          \
    SQ(int, sqlite3_exec,                                                                          \
       (sqlite3 * a, const char *b, int (*c)(void *, int, char **, char **), void *d, char **e),   \
       (a, b, c, d, e), SQLITE_MISUSE)                                                             \
    SQ(int, sqlite3_prepare_v2,                                                                    \
       (sqlite3 * a, const char *b, int c, sqlite3_stmt **d, const char **e), (a, b, c, d, e),     \
       SQLITE_MISUSE)                                                                              \
    SQ(int, sqlite3_step, (sqlite3_stmt * a), (a), SQLITE_MISUSE)                                  \
    SQ(int, sqlite3_finalize, (sqlite3_stmt * a), (a), SQLITE_OK)                                  \
    SQ(int, sqlite3_bind_text, (sqlite3_stmt * a, int b, const char *c, int d, void (*e)(void *)), \
       (a, b, c, d, e), SQLITE_MISUSE)                                                             \
    SQ(int, sqlite3_bind_blob, (sqlite3_stmt * a, int b, const void *c, int d, void (*e)(void *)), \
       (a, b, c, d, e), SQLITE_MISUSE)                                                             \
    SQ(int, sqlite3_bind_null, (sqlite3_stmt * a, int b), (a, b), SQLITE_MISUSE)                   \
    SQ(int, sqlite3_bind_int64, (sqlite3_stmt * a, int b, sqlite3_int64 c), (a, b, c),             \
       SQLITE_MISUSE)                                                                              \
    SQ(const unsigned char *, sqlite3_column_text, (sqlite3_stmt * a, int b), (a, b), NULL)        \
    SQ(const void *, sqlite3_column_blob, (sqlite3_stmt * a, int b), (a, b), NULL)                 \
    SQ(int, sqlite3_column_bytes, (sqlite3_stmt * a, int b), (a, b), 0)                            \
    SQ(int, sqlite3_column_int, (sqlite3_stmt * a, int b), (a, b), 0)                              \
    SQ(int, sqlite3_extended_result_codes, (sqlite3 * a, int b), (a, b), SQLITE_MISUSE)            \
    SQ(int, sqlite3_busy_timeout, (sqlite3 * a, int b), (a, b), SQLITE_MISUSE)                     \
    SQ(int, sqlite3_changes, (sqlite3 * a), (a), 0)                                                \
    SQ(int, sqlite3_errcode, (sqlite3 * a), (a), SQLITE_CANTOPEN)                                  \
    SQ(const char *, sqlite3_errmsg, (sqlite3 * a), (a), why)                                      \
    SQ(const char *, sqlite3_errstr, (int a), (a), why)                                            \
    /* the transfer catalog (src/transfer/catalog.c) */                                            \
    SQ(int, sqlite3_prepare_v3,                                                                    \
       (sqlite3 * a, const char *b, int c, unsigned d, sqlite3_stmt **e, const char **f),          \
       (a, b, c, d, e, f), SQLITE_MISUSE)                                                          \
    SQ(int, sqlite3_reset, (sqlite3_stmt * a), (a), SQLITE_MISUSE)                                 \
    SQ(int, sqlite3_clear_bindings, (sqlite3_stmt * a), (a), SQLITE_MISUSE)                        \
    SQ(sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt * a, int b), (a, b), 0)                  \
    SQ(int, sqlite3_column_type, (sqlite3_stmt * a, int b), (a, b), SQLITE_NULL)                   \
    SQ(sqlite3_int64, sqlite3_changes64, (sqlite3 * a), (a), 0)                                    \
    SQ(int, sqlite3_get_autocommit, (sqlite3 * a), (a), 1)

static struct {
#define SQ(ret, name, params, args, none) ret(*name) params;
    SQLITE_FUNCTIONS
#undef SQ
} fn;

static void (*free_fn)(void *); /* sqlite3_free, which returns nothing */
static char why[320] = "cannot load " SQLITE_SONAME;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

static void load(void)
{
    void *h = dlopen(SQLITE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        snprintf(why, sizeof(why), "cannot load %s: %s", SQLITE_SONAME, e != NULL ? e : "?");
        return;
    }
    void *p; /* POSIX: dlsym's void * holds a function pointer */
#define SQ(ret, name, params, args, none)                                                          \
    p = dlsym(h, #name);                                                                           \
    memcpy(&fn.name, &p, sizeof(p));                                                               \
    if (p == NULL) {                                                                               \
        snprintf(why, sizeof(why), "%s has no %s", SQLITE_SONAME, #name);                          \
        dlclose(h);                                                                                \
        return;                                                                                    \
    }
    SQLITE_FUNCTIONS
#undef SQ
    p = dlsym(h, "sqlite3_free");
    if (p == NULL) {
        snprintf(why, sizeof(why), "%s has no sqlite3_free", SQLITE_SONAME);
        dlclose(h);
        return;
    }
    memcpy(&free_fn, &p, sizeof(p));
    loaded = 1; /* the handle stays open for the life of the process */
}

static int ready(void)
{
    return pthread_once(&once, load) == 0 && loaded;
}

#define SQ(ret, name, params, args, none)                                                          \
    ret name params                                                                                \
    {                                                                                              \
        if (!ready())                                                                              \
            return none;                                                                           \
        return fn.name args;                                                                       \
    }
SQLITE_FUNCTIONS
#undef SQ

/* The one void function: what the library allocated, it frees (nothing was
 * allocated when it is not loaded). */
void sqlite3_free(void *p)
{
    if (p != NULL && ready())
        free_fn(p);
}
