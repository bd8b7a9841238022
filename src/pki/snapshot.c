/* The immutable in-memory snapshot of a PKI base (pkie_pki_open). */
#include "pki_int.h"

#include "pkie/error.h"

#include <openssl/x509v3.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void free_const(const void *p)
{
    free((void *)(uintptr_t)p);
}

static void ent_clear(struct pki_ent *e)
{
    free_const(e->pub.id);
    free_const(e->pub.subject);
    free_const(e->pub.issuer);
    free_const(e->pub.serial);
    free_const(e->pub.not_before);
    free_const(e->pub.not_after);
    free_const(e->pub.sha256);
    X509_free(e->pub.cert);
    EVP_PKEY_free(e->key);
    sk_X509_pop_free(e->chain, X509_free);
    memset(e, 0, sizeof(*e));
}

void pkie_pki_close(struct pkie_pki *pki)
{
    if (pki == NULL)
        return;
    for (size_t i = 0; i < pki->n; i++)
        ent_clear(&pki->ents[i]);
    free(pki->ents);
    sk_X509_free(pki->roots);
    sk_X509_free(pki->inters);
    sk_X509_CRL_pop_free(pki->crls, X509_CRL_free);
    X509_STORE_free(pki->store);
    free(pki);
}

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pki_ent *)a)->pub.id, ((const struct pki_ent *)b)->pub.id);
}

struct pki_ent *pki_find(const struct pkie_pki *pki, const char *id)
{
    struct pki_ent key;
    if (pki == NULL || id == NULL || pki->n == 0)
        return NULL;
    key.pub.id = id;
    return bsearch(&key, pki->ents, pki->n, sizeof(*pki->ents), ent_cmp);
}

/* Fill one entry from a row (id, type, der). */
static int load_cert_row(sqlite3_stmt *q, struct pki_ent *e)
{
    const char *id = (const char *)sqlite3_column_text(q, 0);
    const char *type = (const char *)sqlite3_column_text(q, 1);
    const unsigned char *der = sqlite3_column_blob(q, 2);
    int n = sqlite3_column_bytes(q, 2);
    const unsigned char *p = der;
    X509 *cert;

    if (id == NULL || type == NULL || der == NULL || n <= 0 || (size_t)n > PKI_DER_MAX)
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "certificate row incomplete");
    e->pub.id = strdup(id);
    if (e->pub.id == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "id");
    if (pkie_pki_type_parse(type, &e->pub.type) != 0)
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "%s: type '%s'", id, type);
    cert = d2i_X509(NULL, &p, n);
    if (cert == NULL || p != der + n) {
        X509_free(cert);
        return PKIE_ERR_OSSL(PKIE_ERR_PKI_CORRUPT, "%s: stored certificate does not parse", id);
    }
    e->pub.cert = cert;
    /* compute extension caches now, so that threads later only read them */
    X509_check_purpose(cert, -1, 0);
    e->pub.subject = pki_name_text(X509_get_subject_name(cert));
    e->pub.issuer = pki_name_text(X509_get_issuer_name(cert));
    e->pub.serial = pki_serial_text(X509_get0_serialNumber(cert));
    e->pub.not_before = pki_time_text(X509_get0_notBefore(cert));
    e->pub.not_after = pki_time_text(X509_get0_notAfter(cert));
    e->pub.sha256 = pki_fingerprint_text(cert);
    if (!e->pub.subject || !e->pub.issuer || !e->pub.serial || !e->pub.not_before ||
        !e->pub.not_after || !e->pub.sha256)
        return PKIE_ERR_OSSL(PKIE_ERR_PKI_CORRUPT, "%s: certificate fields unreadable", id);
    return 0;
}

static int load_certs(sqlite3 *db, struct pkie_pki *pki)
{
    sqlite3_stmt *q = NULL;
    size_t cap = 0;
    int rc = 0, r;
    r = sqlite3_prepare_v2(db, "SELECT id, type, der FROM cert ORDER BY id", -1, &q, NULL);
    if (r != SQLITE_OK)
        return pki_db_err(db, r, "reading certificates");
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        if (pki->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct pki_ent *ne = realloc(pki->ents, ncap * sizeof(*ne));
            if (ne == NULL) {
                rc = PKIE_ERR(PKIE_ERR_NOMEM, "certificate table");
                goto out;
            }
            memset(ne + cap, 0, (ncap - cap) * sizeof(*ne));
            pki->ents = ne;
            cap = ncap;
        }
        struct pki_ent *e = &pki->ents[pki->n++];
        if ((rc = load_cert_row(q, e)) != 0)
            goto out;
    }
    if (r != SQLITE_DONE)
        rc = pki_db_err(db, r, "reading certificates");
out:
    sqlite3_finalize(q);
    if (rc == 0 && pki->n > 1)
        qsort(pki->ents, pki->n, sizeof(*pki->ents), ent_cmp); /* byte order, as bsearch */
    return rc;
}

static int load_keys(sqlite3 *db, struct pkie_pki *pki, const char *password)
{
    sqlite3_stmt *q = NULL;
    int rc = 0, r;
    r = sqlite3_prepare_v2(db, "SELECT cert_id, pkcs8_enc FROM key", -1, &q, NULL);
    if (r != SQLITE_OK)
        return pki_db_err(db, r, "reading keys");
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        struct pki_ent *e = pki_find(pki, id);
        if (e == NULL) {
            rc = PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "key without certificate");
            goto out;
        }
        e->pub.has_key = 1;
        if (password == NULL)
            continue;
        const unsigned char *der = sqlite3_column_blob(q, 1);
        int n = sqlite3_column_bytes(q, 1);
        if (der == NULL || n <= 0) {
            rc = PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "%s: empty key", id);
            goto out;
        }
        if ((rc = pki_key_decrypt(der, (size_t)n, password, &e->key)) != 0)
            goto out;
        /* a row swapped in from elsewhere must not pass as this certificate's key */
        if (EVP_PKEY_eq(X509_get0_pubkey(e->pub.cert), e->key) != 1) {
            rc =
                PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "%s: stored key does not match the certificate", id);
            goto out;
        }
    }
    if (r != SQLITE_DONE)
        rc = pki_db_err(db, r, "reading keys");
out:
    sqlite3_finalize(q);
    return rc;
}

/* Every CRL of the base is handed to each verification (X509_STORE_CTX_set0_crls), so
 * the store need not be searched: that search takes the store's lock, which threads
 * verifying at the same time would contend for. */
static STACK_OF(X509_CRL) *no_store_crls(const X509_STORE_CTX *ctx, const X509_NAME *nm)
{
    (void)ctx;
    (void)nm;
    return NULL;
}

static int load_crls(sqlite3 *db, struct pkie_pki *pki)
{
    sqlite3_stmt *q = NULL;
    int rc = 0, r;
    r = sqlite3_prepare_v2(db, "SELECT der FROM crl ORDER BY id", -1, &q, NULL);
    if (r != SQLITE_OK)
        return pki_db_err(db, r, "reading CRLs");
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *der = sqlite3_column_blob(q, 0), *p = der;
        int n = sqlite3_column_bytes(q, 0);
        X509_CRL *crl =
            der != NULL && n > 0 && (size_t)n <= PKI_DER_MAX ? d2i_X509_CRL(NULL, &p, n) : NULL;
        if (crl == NULL || p != der + n) {
            X509_CRL_free(crl);
            rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_CORRUPT, "stored CRL does not parse");
            goto out;
        }
        /* sort the revoked list now (lookups would otherwise sort it lazily under a lock) */
        X509_REVOKED *rev = NULL;
        ASN1_INTEGER *zero = ASN1_INTEGER_new();
        if (zero != NULL)
            X509_CRL_get0_by_serial(crl, &rev, zero);
        ASN1_INTEGER_free(zero);
        /* The store takes its own reference; the list takes ours last, so
         * a failure frees the CRL exactly once. */
        if (!X509_STORE_add_crl(pki->store, crl) || !sk_X509_CRL_push(pki->crls, crl)) {
            X509_CRL_free(crl);
            rc = PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "CRL list");
            goto out;
        }
    }
    if (r != SQLITE_DONE)
        rc = pki_db_err(db, r, "reading CRLs");
out:
    sqlite3_finalize(q);
    return rc;
}

/* The chain TLS sends: leaf, then intermediates of the base up to the root (excluded). */
static int build_chain(struct pkie_pki *pki, struct pki_ent *e)
{
    X509 *cur = e->pub.cert;
    e->chain = sk_X509_new_null();
    if (e->chain == NULL || !sk_X509_push(e->chain, cur))
        return PKIE_ERR(PKIE_ERR_NOMEM, "chain");
    X509_up_ref(cur);
    for (int depth = 0; depth < PKIE_PKI_CHAIN_MAX && !pki_self_signed(cur); depth++) {
        X509 *issuer = NULL;
        int is_root = 0;
        for (size_t i = 0; i < pki->n && issuer == NULL; i++) {
            struct pki_ent *c = &pki->ents[i];
            if (c->pub.type == PKIE_PKI_USER || c->pub.cert == cur)
                continue;
            if (X509_check_issued(c->pub.cert, cur) == X509_V_OK) {
                issuer = c->pub.cert;
                is_root = c->pub.type == PKIE_PKI_ROOT;
            }
        }
        if (issuer == NULL || is_root)
            break;
        for (int k = 0; k < sk_X509_num(e->chain); k++)
            if (sk_X509_value(e->chain, k) == issuer)
                return 0; /* a loop of cross-certificates: stop */
        if (!sk_X509_push(e->chain, issuer))
            return PKIE_ERR(PKIE_ERR_NOMEM, "chain");
        X509_up_ref(issuer);
        cur = issuer;
    }
    return 0;
}

int pkie_pki_open(const char *path, const char *password, int create, struct pkie_pki **out)
{
    struct pkie_pki *pki = NULL;
    sqlite3 *db = NULL;
    int rc;

    if (out == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_open: out is NULL");
    *out = NULL;
    if ((rc = pki_db_open(path, create, &db)) != 0)
        return rc;
    pki = calloc(1, sizeof(*pki));
    if (pki == NULL) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "snapshot");
        goto err;
    }
    pki->roots = sk_X509_new_null();
    pki->inters = sk_X509_new_null();
    pki->crls = sk_X509_CRL_new_null();
    pki->store = X509_STORE_new();
    if (!pki->roots || !pki->inters || !pki->crls || !pki->store) {
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "snapshot");
        goto err;
    }
    X509_STORE_set_lookup_crls(pki->store, no_store_crls);
    /* one read transaction: certificates, keys and CRLs of the same moment */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = pki_db_err(db, sqlite3_errcode(db), "begin");
        goto err;
    }
    if (password != NULL && (rc = pki_password_check(db, password, 0, 0, NULL)) != 0)
        goto err;
    if ((rc = load_certs(db, pki)) != 0 || (rc = load_keys(db, pki, password)) != 0)
        goto err;
    for (size_t i = 0; i < pki->n; i++) {
        struct pki_ent *e = &pki->ents[i];
        if (e->pub.type == PKIE_PKI_USER)
            continue;
        STACK_OF(X509) *sk = e->pub.type == PKIE_PKI_ROOT ? pki->roots : pki->inters;
        if (!sk_X509_push(sk, e->pub.cert) || !X509_STORE_add_cert(pki->store, e->pub.cert)) {
            rc = PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "CA list");
            goto err;
        }
    }
    if ((rc = load_crls(db, pki)) != 0)
        goto err;
    for (size_t i = 0; i < pki->n; i++)
        if ((rc = build_chain(pki, &pki->ents[i])) != 0)
            goto err;
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    *out = pki;
    return 0;
err:
    if (db != NULL) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    pkie_pki_close(pki);
    return rc;
}

size_t pkie_pki_count(const struct pkie_pki *pki)
{
    return pki != NULL ? pki->n : 0;
}

const struct pkie_pki_entry *pkie_pki_entry_at(const struct pkie_pki *pki, size_t i)
{
    return pki != NULL && i < pki->n ? &pki->ents[i].pub : NULL;
}

const struct pkie_pki_entry *pkie_pki_find(const struct pkie_pki *pki, const char *id)
{
    const struct pki_ent *e = pki_find(pki, id);
    return e != NULL ? &e->pub : NULL;
}

size_t pkie_pki_crl_count(const struct pkie_pki *pki)
{
    return pki != NULL ? (size_t)sk_X509_CRL_num(pki->crls) : 0;
}

X509_CRL *pkie_pki_crl_at(const struct pkie_pki *pki, size_t i)
{
    if (pki == NULL || i >= (size_t)sk_X509_CRL_num(pki->crls))
        return NULL;
    return sk_X509_CRL_value(pki->crls, (int)i);
}
