/*
 * The exit loader and the phase call: dlopen once (RTLD_NOW | RTLD_LOCAL),
 * resolve cftpkie, and call it with the header of struct pkicom set.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exit_int.h"
#include "pkie/error.h"
#include "pkie/log.h"

int pkie_exit_load(const char *path, struct pkie_exit **out)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return PKIE_ERR(PKIE_ERR_EXIT_LOAD, "pki.type = exit but pki.exit.libpath is not set");
    struct stat st;
    if (stat(path, &st) != 0)
        return PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit library %s: no such file", path);
    if (!S_ISREG(st.st_mode))
        return PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit library %s: not a regular file", path);
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        return PKIE_ERR(PKIE_ERR_EXIT_LOAD, "exit library %s: %s", path, e ? e : "dlopen failed");
    }
    dlerror();
    void *sym = dlsym(h, "cftpkie");
    if (sym == NULL) {
        dlclose(h);
        return PKIE_ERR(PKIE_ERR_EXIT_SYMBOL, "exit library %s exports no cftpkie function", path);
    }
    struct pkie_exit *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        dlclose(h);
        return PKIE_ERR(PKIE_ERR_NOMEM, "exit");
    }
    x->handle = h;
    /* POSIX guarantees a function pointer survives the void * round trip. */
    memcpy(&x->fn, &sym, sizeof(x->fn));
    const char *base = strrchr(path, '/');
    snprintf(x->name, sizeof(x->name), "%s", base ? base + 1 : path);
    *out = x;
    return 0;
}

void pkie_exit_unload(struct pkie_exit *x)
{
    /* The library stays mapped: an exit may have started threads or registered
     * atexit handlers; unmapping it under them would be unsafe. */
    free(x);
}

static const char *const phase_names[] = {"?",
                                          "StartTask",
                                          "StartHandshake",
                                          "GetCertificate",
                                          "GetCAList",
                                          "CheckCertificate",
                                          "CryptData",
                                          "HandshakeAlert",
                                          "HandshakeDone",
                                          "EndSession",
                                          "EndTask"};

const char *pkie_exit_phase_name(uint32_t phase)
{
    if (phase >= sizeof(phase_names) / sizeof(phase_names[0]))
        return "?";
    return phase_names[phase];
}

void pkie_exit_call_prepare(struct pkicom *z, uint32_t phase)
{
    z->size = (uint32_t)sizeof(*z);
    z->abi_version = CFTPKIE_ABI_VERSION;
    z->phase = phase;
    z->reserved0 = 0;
    z->error_text[0] = '\0';
}

int pkie_exit_answer_text(const struct pkie_exit *x, uint32_t phase, int rc, const char *text,
                          size_t cap)
{
    if (rc == CFTPKIE_HANDLED || rc == CFTPKIE_NOT_HANDLED)
        return rc;
    if (rc != CFTPKIE_ERROR)
        pkie_log_error("exit", "exit %s phase %s: unknown return code %d (taken as an error)",
                       x->name, pkie_exit_phase_name(phase), rc);
    else if (pkie_exit_check_text(text, cap) != 0)
        pkie_log_error("exit", "exit %s phase %s: error (error text not terminated)", x->name,
                       pkie_exit_phase_name(phase));
    else if (text[0] == '\0')
        pkie_log_error("exit", "exit %s phase %s: error (no error text)", x->name,
                       pkie_exit_phase_name(phase));
    else
        pkie_log_error("exit", "exit %s phase %s: error: %s", x->name, pkie_exit_phase_name(phase),
                       text);
    return CFTPKIE_ERROR;
}

int pkie_exit_answer(const struct pkie_exit *x, struct pkicom *z, uint32_t phase, int rc)
{
    /* The exit may have scribbled over the header: restore it. */
    z->size = (uint32_t)sizeof(*z);
    z->abi_version = CFTPKIE_ABI_VERSION;
    z->phase = phase;
    return pkie_exit_answer_text(x, phase, rc, z->error_text, sizeof(z->error_text));
}

int pkie_exit_call(const struct pkie_exit *x, struct pkicom *z, uint32_t phase)
{
    pkie_exit_call_prepare(z, phase);
    return pkie_exit_answer(x, z, phase, x->fn(z));
}
