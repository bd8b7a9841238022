/* Shared fixture of the pki unit tests. */
#include "pki_testbase.h"

#include "pkie/error.h"
#include "pkie/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void must(int rc, const char *what)
{
    if (rc != 0) {
        char buf[1024];
        fprintf(stderr, "fixture: %s: %s\n", what, pkie_err_format(buf, sizeof(buf)));
        abort();
    }
}

const char *tb_make_base(struct tc_world *w, const char *name, int with_crl)
{
    const char *path = tc_path(w, 3, name);
    struct pkie_pki_store *st = NULL;
    unlink(path);
    must(pkie_pki_store_open(path, TB_PASSWORD, 1, &st), "store open");
    must(pkie_pki_store_set_kdf_iter(st, PKIE_PKI_KDF_ITER_MIN), "kdf iter");
    must(pkie_pki_store_add(st, "root", PKIE_PKI_TYPE_DETECT, w->root, NULL, NULL), "root");
    must(pkie_pki_store_add(st, "inter", PKIE_PKI_TYPE_DETECT, w->inter, NULL, NULL), "inter");
    must(pkie_pki_store_add(st, "inter2", PKIE_PKI_INTER, w->inter2, NULL, NULL), "inter2");
    must(pkie_pki_store_add(st, "other", PKIE_PKI_ROOT, w->other_root, NULL, NULL), "other");
    must(pkie_pki_store_add(st, "alice", PKIE_PKI_TYPE_DETECT, w->user, w->user_key, NULL),
         "alice");
    must(pkie_pki_store_add(st, "bob", PKIE_PKI_USER, w->user_ec, w->ec_key, NULL), "bob");
    must(pkie_pki_store_add(st, "carol", PKIE_PKI_USER, w->user_ed, w->ed_key, NULL), "carol");
    must(pkie_pki_store_add(st, "expired", PKIE_PKI_USER, w->expired, NULL, NULL), "expired");
    must(pkie_pki_store_add(st, "revoked", PKIE_PKI_USER, w->revoked, NULL, NULL), "revoked");
    must(pkie_pki_store_add(st, "future", PKIE_PKI_USER, w->notyet, NULL, NULL), "future");
    must(pkie_pki_store_add(st, "deep", PKIE_PKI_USER, w->deep, NULL, NULL), "deep");
    must(pkie_pki_store_add(st, "mallory", PKIE_PKI_USER, w->stranger, NULL, NULL), "mallory");
    must(pkie_pki_store_add(st, "forged", PKIE_PKI_USER, w->badsig, NULL, NULL), "forged");
    if (with_crl)
        must(pkie_pki_store_add_crl(st, w->crl), "crl");
    pkie_pki_store_close(st);
    return path;
}
