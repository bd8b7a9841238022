/* libFuzzer target for the configuration reader (src/common/conf.c).
 *
 * Feeds arbitrary text to pkie_conf_parse with a schema using every value
 * type. Checks (abort() on violation): the result is 0 or a CONF error code
 * with a message, stored values respect the schema (INT within bounds, BOOL
 * 0/1, ENUM an index of the choices, STRING NUL-terminated), and everything
 * is freed (leaks are findings under ASan). */
#include "pkie/conf.h"
#include "pkie/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cfg {
    char *name;
    char *path;
    long long tasks;
    long long port;
    int verbose;
    int mode;
    unsigned partners;
};

static const char *const modes[] = {"internal", "exit", "none", NULL};

static int on_partner(void *dst, const char *key, const char *value, unsigned line, void *arg)
{
    (void)key;
    (void)line;
    (void)arg;
    struct cfg *c = dst;
    if (strcmp(value, "reject") == 0)
        return PKIE_ERR(PKIE_ERR_CONF_VALUE, "rejected");
    c->partners++;
    return 0;
}

static const struct pkie_conf_key keys[] = {
    {.name = "name", .type = PKIE_CONF_STRING, .offset = offsetof(struct cfg, name), .required = 1},
    {.name = "pki.exit.libpath", .type = PKIE_CONF_STRING, .offset = offsetof(struct cfg, path)},
    {.name = "tasks",
     .type = PKIE_CONF_INT,
     .offset = offsetof(struct cfg, tasks),
     .min = 1,
     .max = 64},
    {.name = "port",
     .type = PKIE_CONF_INT,
     .offset = offsetof(struct cfg, port),
     .min = -5,
     .max = 65535},
    {.name = "verbose", .type = PKIE_CONF_BOOL, .offset = offsetof(struct cfg, verbose)},
    {.name = "pki.type",
     .type = PKIE_CONF_ENUM,
     .offset = offsetof(struct cfg, mode),
     .choices = modes},
    {.name = "partner.*.cert", .type = PKIE_CONF_CALLBACK, .cb = on_partner},
    {.name = NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg c;
    memset(&c, 0, sizeof(c));
    c.tasks = 1;
    int rc = pkie_conf_parse((const char *)data, size, "fuzz.conf", keys, &c, NULL);
    if (rc != 0) {
        const struct pkie_error *e = pkie_err_last();
        if (e->code != rc || e->msg[0] == '\0')
            abort();
        if (rc > -20 && rc != PKIE_ERR_LIMIT && rc != PKIE_ERR_NOMEM && rc != PKIE_ERR_ARG)
            abort();
    } else {
        if (c.name == NULL)
            abort();
        if (c.tasks < 1 || c.tasks > 64 || c.port < -5 || c.port > 65535)
            abort();
        if (c.verbose != 0 && c.verbose != 1)
            abort();
        if (c.mode < 0 || c.mode > 2)
            abort();
    }
    if (c.name != NULL)
        (void)strlen(c.name);
    if (c.path != NULL)
        (void)strlen(c.path);
    pkie_conf_free(keys, &c);
    pkie_err_clear();
    return 0;
}
