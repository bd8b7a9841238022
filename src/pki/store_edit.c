/* Changes to the base file: add/delete certificates with keys, add CRLs. */
#include "pki_int.h"

#include "pkie/error.h"
#include "pkie/wipe.h"

#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>

static int exec_sql(sqlite3 *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : pki_db_err(db, rc, what);
}

static int type_fits(X509 *cert, enum pkie_pki_type type)
{
    int ca = X509_check_ca(cert) != 0;
    int self = pki_self_signed(cert);
    switch (type) {
    case PKIE_PKI_ROOT:
        return ca && self;
    case PKIE_PKI_INTER:
        return ca && !self;
    case PKIE_PKI_USER:
        return 1;
    default:
        return 0;
    }
}

static int id_exists(sqlite3 *db, const char *id, int *exists)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM cert WHERE id=?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return pki_db_err(db, rc, "looking up the id");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return pki_db_err(db, rc, "looking up the id");
    *exists = rc == SQLITE_ROW;
    return 0;
}

int pkie_pki_store_add(struct pkie_pki_store *st, const char *id, enum pkie_pki_type type,
                       X509 *cert, EVP_PKEY *key, enum pkie_pki_type *type_out)
{
    unsigned char *der = NULL, *kder = NULL;
    size_t kder_len = 0;
    char *subject = NULL, *issuer = NULL, *serial = NULL, *nb = NULL, *na = NULL, *fp = NULL;
    sqlite3_stmt *ins = NULL;
    int rc, der_len, exists = 0, in_tx = 0, was_checked;

    if (st == NULL || cert == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_store_add: NULL argument");
    was_checked = st->pw_checked;
    if ((rc = pkie_pki_id_check(id)) != 0)
        return rc;
    if (type == PKIE_PKI_TYPE_DETECT)
        type = pkie_pki_type_detect(cert);
    else if (!type_fits(cert, type))
        return PKIE_ERR(PKIE_ERR_PKI_TYPE, "%s: certificate is not a %s certificate (%s)", id,
                        pkie_pki_type_name(type),
                        type == PKIE_PKI_ROOT    ? "a root must be a self-signed CA"
                        : type == PKIE_PKI_INTER ? "an intermediate must be a CA issued by another"
                                                 : "unknown type");
    if (key != NULL) {
        if (st->password == NULL)
            return PKIE_ERR(PKIE_ERR_PKI_NO_PASSWORD,
                            "%s: storing a private key needs the PKI "
                            "password",
                            id);
        EVP_PKEY *pub = X509_get0_pubkey(cert);
        if (pub == NULL || EVP_PKEY_eq(pub, key) != 1)
            return PKIE_ERR(PKIE_ERR_PKI_KEY_MISMATCH, "%s: the key is not the certificate's", id);
    }
    /* one write transaction from the checks to the inserts: a concurrent import
     * cannot take the id or set another password in between */
    if ((rc = exec_sql(st->db, "BEGIN IMMEDIATE", "import")) != 0)
        return rc;
    in_tx = 1;
    if ((rc = id_exists(st->db, id, &exists)) != 0)
        goto err;
    if (exists) {
        rc = PKIE_ERR(PKIE_ERR_PKI_DUPLICATE_ID, "id '%s' already in use", id);
        goto err;
    }

    der_len = i2d_X509(cert, &der);
    if (der_len <= 0) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_PARSE, "%s: cannot encode the certificate", id);
        goto err;
    }
    subject = pki_name_text(X509_get_subject_name(cert));
    issuer = pki_name_text(X509_get_issuer_name(cert));
    serial = pki_serial_text(X509_get0_serialNumber(cert));
    nb = pki_time_text(X509_get0_notBefore(cert));
    na = pki_time_text(X509_get0_notAfter(cert));
    fp = pki_fingerprint_text(cert);
    if (!subject || !issuer || !serial || !nb || !na || !fp) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_PARSE, "%s: cannot read the certificate fields", id);
        goto err;
    }
    if (key != NULL) {
        /* the first key sets the base's password check; later ones must match it */
        if (!st->pw_checked &&
            (rc = pki_password_check(st->db, st->password, 1, st->kdf_iter, &st->pw_checked)) != 0)
            goto err;
        if ((rc = pki_key_encrypt(key, st->password, st->kdf_iter, &kder, &kder_len)) != 0)
            goto err;
    }

    int r = sqlite3_prepare_v2(st->db,
                               "INSERT INTO cert(id, type, der, subject, issuer, serial, "
                               "not_before, not_after, sha256) VALUES (?,?,?,?,?,?,?,?,?)",
                               -1, &ins, NULL);
    if (r != SQLITE_OK) {
        rc = pki_db_err(st->db, r, "import");
        goto err;
    }
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, pkie_pki_type_name(type), -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 3, der, der_len, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, issuer, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, serial, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, nb, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 8, na, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 9, fp, -1, SQLITE_STATIC);
    r = sqlite3_step(ins);
    sqlite3_finalize(ins);
    ins = NULL;
    if ((r & 0xff) == SQLITE_CONSTRAINT) {
        rc = PKIE_ERR(PKIE_ERR_PKI_DUPLICATE_ID, "id '%s' already in use", id);
        goto err;
    }
    if (r != SQLITE_DONE) {
        rc = pki_db_err(st->db, r, "import");
        goto err;
    }
    if (kder != NULL) {
        r = sqlite3_prepare_v2(st->db,
                               "INSERT INTO key(cert_id, algorithm, kdf_iter, pkcs8_enc) "
                               "VALUES (?,?,?,?)",
                               -1, &ins, NULL);
        if (r != SQLITE_OK) {
            rc = pki_db_err(st->db, r, "import key");
            goto err;
        }
        const char *alg = EVP_PKEY_get0_type_name(key);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, alg != NULL ? alg : "?", -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, (sqlite3_int64)st->kdf_iter);
        sqlite3_bind_blob(ins, 4, kder, (int)kder_len, SQLITE_STATIC);
        r = sqlite3_step(ins);
        sqlite3_finalize(ins);
        ins = NULL;
        if (r != SQLITE_DONE) {
            rc = pki_db_err(st->db, r, "import key");
            goto err;
        }
    }
    if ((rc = exec_sql(st->db, "COMMIT", "import")) != 0)
        goto err;
    in_tx = 0;
    if (type_out != NULL)
        *type_out = type;
    rc = 0;
err:
    if (in_tx) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        st->pw_checked = was_checked; /* a verifier created here was rolled back too */
    }
    OPENSSL_free(der);
    OPENSSL_free(kder);
    free(subject);
    free(issuer);
    free(serial);
    free(nb);
    free(na);
    free(fp);
    return rc;
}

int pkie_pki_store_delete(struct pkie_pki_store *st, const char *id)
{
    sqlite3_stmt *del = NULL;
    if (st == NULL || id == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_store_delete: NULL argument");
    int r = sqlite3_prepare_v2(st->db, "DELETE FROM cert WHERE id=?", -1, &del, NULL);
    if (r != SQLITE_OK)
        return pki_db_err(st->db, r, "delete");
    sqlite3_bind_text(del, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(del);
    sqlite3_finalize(del);
    if (r != SQLITE_DONE)
        return pki_db_err(st->db, r, "delete");
    if (sqlite3_changes(st->db) == 0)
        return PKIE_ERR(PKIE_ERR_PKI_UNKNOWN_ID, "no certificate with id '%s'", id);
    return 0;
}

/* Find a CA of the base whose key verifies @p crl. */
/* Is a CA of the base named @p issuer, whose key verifies @p cert (or else
 * @p crl)? 1, 0, or a pkie_err. */
static int ca_in_base(sqlite3 *db, const X509_NAME *issuer, X509 *cert, X509_CRL *crl)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    int r =
        sqlite3_prepare_v2(db, "SELECT der FROM cert WHERE type IN ('root','inter')", -1, &q, NULL);
    if (r != SQLITE_OK)
        return pki_db_err(db, r, "reading the CAs");
    while (!found && (r = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(q, 0);
        int n = sqlite3_column_bytes(q, 0);
        X509 *ca = p != NULL && n > 0 ? d2i_X509(NULL, &p, n) : NULL;
        if (ca == NULL)
            continue;
        EVP_PKEY *pub = X509_get0_pubkey(ca);
        if (X509_NAME_cmp(X509_get_subject_name(ca), issuer) == 0 && pub != NULL &&
            (cert != NULL ? X509_verify(cert, pub) : X509_CRL_verify(crl, pub)) == 1)
            found = 1;
        X509_free(ca);
    }
    sqlite3_finalize(q);
    if (!found && r != SQLITE_ROW && r != SQLITE_DONE)
        return pki_db_err(db, r, "reading the CAs");
    return found;
}

static int crl_issuer_ok(sqlite3 *db, X509_CRL *crl)
{
    int r = ca_in_base(db, X509_CRL_get_issuer(crl), NULL, crl);
    if (r < 0)
        return r;
    if (r == 0)
        return PKIE_ERR(PKIE_ERR_PKI_CRL_ISSUER, "no CA of the base issued this CRL");
    return 0;
}

int pkie_pki_store_import_check(struct pkie_pki_store *st, X509 *cert, enum pkie_pki_type type,
                                time_t now)
{
    if (st == NULL || cert == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_store_import_check: NULL argument");
    char *nb = pki_time_text(X509_get0_notBefore(cert));
    char *na = pki_time_text(X509_get0_notAfter(cert));
    int before = X509_cmp_time(X509_get0_notBefore(cert), &now);
    int after = X509_cmp_time(X509_get0_notAfter(cert), &now);
    int rc = 0;
    if (before == 0 || after == 0)
        rc = PKIE_ERR(PKIE_ERR_PKI_VALIDITY, "the validity dates cannot be read");
    else if (after < 0)
        rc = PKIE_ERR(PKIE_ERR_PKI_VALIDITY, "the certificate expired (not after %s)",
                      na ? na : "?");
    else if (before > 0)
        rc = PKIE_ERR(PKIE_ERR_PKI_VALIDITY, "the certificate is not valid yet (not before %s)",
                      nb ? nb : "?");
    free(nb);
    free(na);
    if (rc != 0)
        return rc;
    if (type == PKIE_PKI_TYPE_DETECT)
        type = pkie_pki_type_detect(cert);
    if (type != PKIE_PKI_USER)
        return 0;
    int r = ca_in_base(st->db, X509_get_issuer_name(cert), cert, NULL);
    if (r < 0)
        return r;
    if (r == 0) {
        char *issuer = pki_name_text(X509_get_issuer_name(cert));
        rc = PKIE_ERR(PKIE_ERR_PKI_NO_ISSUER,
                      "its issuer %s is not a CA of the base (or its key does not verify the "
                      "certificate): import the CA first",
                      issuer ? issuer : "?");
        free(issuer);
    }
    return rc;
}

int pkie_pki_store_add_crl(struct pkie_pki_store *st, X509_CRL *crl)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char *issuer = NULL, *tu = NULL, *nu = NULL, fp[2 * EVP_MAX_MD_SIZE + 1];
    sqlite3_stmt *q = NULL;
    int rc, der_len, in_tx = 0;

    if (st == NULL || crl == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "pkie_pki_store_add_crl: NULL argument");
    if (X509_CRL_get0_lastUpdate(crl) == NULL)
        return PKIE_ERR(PKIE_ERR_PKI_PARSE, "CRL without thisUpdate");
    if ((rc = crl_issuer_ok(st->db, crl)) != 0)
        return rc;
    der_len = i2d_X509_CRL(crl, &der);
    issuer = pki_name_text(X509_CRL_get_issuer(crl));
    tu = pki_time_text(X509_CRL_get0_lastUpdate(crl));
    nu =
        X509_CRL_get0_nextUpdate(crl) != NULL ? pki_time_text(X509_CRL_get0_nextUpdate(crl)) : NULL;
    if (der_len <= 0 || issuer == NULL || tu == NULL ||
        (X509_CRL_get0_nextUpdate(crl) != NULL && nu == NULL) ||
        !EVP_Digest(der, (size_t)der_len, md, &mdlen, EVP_sha256(), NULL)) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_PARSE, "cannot encode the CRL");
        goto err;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(fp + 2 * i, 3, "%02x", md[i]);

    if ((rc = exec_sql(st->db, "BEGIN IMMEDIATE", "CRL import")) != 0)
        goto err;
    in_tx = 1;
    /* keep only the newest CRL of an issuer */
    int r = sqlite3_prepare_v2(st->db, "SELECT der FROM crl WHERE issuer=?", -1, &q, NULL);
    if (r != SQLITE_OK) {
        rc = pki_db_err(st->db, r, "CRL import");
        goto err;
    }
    sqlite3_bind_text(q, 1, issuer, -1, SQLITE_STATIC);
    r = sqlite3_step(q);
    if (r == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(q, 0);
        X509_CRL *old = p != NULL ? d2i_X509_CRL(NULL, &p, sqlite3_column_bytes(q, 0)) : NULL;
        int cmp = old != NULL ? ASN1_TIME_compare(X509_CRL_get0_lastUpdate(old),
                                                  X509_CRL_get0_lastUpdate(crl))
                              : -1;
        X509_CRL_free(old);
        if (cmp > 0) {
            rc = PKIE_ERR(PKIE_ERR_EXISTS, "the base holds a newer CRL of %s", issuer);
            goto err;
        }
    } else if (r != SQLITE_DONE) {
        rc = pki_db_err(st->db, r, "CRL import");
        goto err;
    }
    sqlite3_finalize(q);
    q = NULL;
    r = sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO crl(issuer, this_update, next_update, der, "
                           "sha256) VALUES (?,?,?,?,?)",
                           -1, &q, NULL);
    if (r != SQLITE_OK) {
        rc = pki_db_err(st->db, r, "CRL import");
        goto err;
    }
    sqlite3_bind_text(q, 1, issuer, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, tu, -1, SQLITE_STATIC);
    if (nu != NULL)
        sqlite3_bind_text(q, 3, nu, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 3);
    sqlite3_bind_blob(q, 4, der, der_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, fp, -1, SQLITE_STATIC);
    r = sqlite3_step(q);
    if (r != SQLITE_DONE) {
        rc = pki_db_err(st->db, r, "CRL import");
        goto err;
    }
    if ((rc = exec_sql(st->db, "COMMIT", "CRL import")) != 0)
        goto err;
    in_tx = 0;
    rc = 0;
err:
    sqlite3_finalize(q);
    if (in_tx)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    OPENSSL_free(der);
    free(issuer);
    free(tu);
    free(nu);
    return rc;
}
