/* Unit tests: the PKI base file and its snapshot (include/pkie/pki.h): create,
 * import, reopen, passwords, ids, types, keys at rest, CRL import, corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pki_testbase.h"
#include "pkie/error.h"
#include "pkie/pki.h"

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct tc_world *w;

static int group_setup(void **state)
{
    (void)state;
    w = tc_world_new();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tc_world_free(w);
    return 0;
}

static void test_create_list_reopen(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "base1.db", 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct pkie_pki *pki = NULL;
    assert_int_equal(pkie_pki_open(path, TB_PASSWORD, 0, &pki), 0);
    assert_int_equal(pkie_pki_count(pki), 13);
    assert_int_equal(pkie_pki_crl_count(pki), 1);
    assert_non_null(pkie_pki_crl_at(pki, 0));
    assert_null(pkie_pki_crl_at(pki, 1));
    /* ordered by id */
    assert_string_equal(pkie_pki_entry_at(pki, 0)->id, "alice");
    assert_null(pkie_pki_entry_at(pki, 13));
    const struct pkie_pki_entry *e = pkie_pki_find(pki, "root");
    assert_non_null(e);
    assert_int_equal(e->type, PKIE_PKI_ROOT);
    assert_false(e->has_key);
    assert_int_equal(pkie_pki_find(pki, "inter")->type, PKIE_PKI_INTER);
    e = pkie_pki_find(pki, "alice");
    assert_int_equal(e->type, PKIE_PKI_USER);
    assert_true(e->has_key);
    assert_string_equal(e->subject, "CN=alice,O=pkie test,C=DE");
    assert_string_equal(e->issuer, "CN=Test Inter,O=pkie test,C=DE");
    assert_string_equal(e->serial, "64");
    assert_int_equal(strlen(e->sha256), 64);
    assert_int_equal(strlen(e->not_after), 20);
    assert_null(pkie_pki_find(pki, "nobody"));

    /* the chain TLS sends: leaf, intermediates, no root */
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    assert_int_equal(pkie_pki_get_chain(pki, "alice", &chain, &key), 0);
    assert_int_equal(sk_X509_num(chain), 2);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 0), w->user), 0);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 1), w->inter), 0);
    assert_int_equal(EVP_PKEY_eq(key, w->user_key), 1);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    assert_int_equal(pkie_pki_get_chain(pki, "deep", &chain, NULL), 0);
    assert_int_equal(sk_X509_num(chain), 3);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 1), w->inter2), 0);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 2), w->inter), 0);
    sk_X509_pop_free(chain, X509_free);
    assert_int_equal(pkie_pki_get_chain(pki, "root", &chain, NULL), 0);
    assert_int_equal(sk_X509_num(chain), 1);
    sk_X509_pop_free(chain, X509_free);
    pkie_pki_close(pki);

    /* reopened by a second snapshot: same content */
    assert_int_equal(pkie_pki_open(path, TB_PASSWORD, 0, &pki), 0);
    assert_int_equal(pkie_pki_count(pki), 13);
    pkie_pki_close(pki);
}

static void test_chain_gaps(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "gaps.db", 0);
    struct pkie_pki *pki = NULL;
    STACK_OF(X509) *chain = NULL;
    assert_int_equal(pkie_pki_open(path, NULL, 0, &pki), 0);
    /* no CA asked for: an empty list */
    STACK_OF(X509_NAME) *names = NULL;
    assert_int_equal(pkie_pki_get_ca_names(pki, NULL, 0, &names), 0);
    assert_int_equal(sk_X509_NAME_num(names), 0);
    sk_X509_NAME_free(names);
    /* mallory's CA is a root of the base: chain = leaf only */
    assert_int_equal(pkie_pki_get_chain(pki, "mallory", &chain, NULL), 0);
    assert_int_equal(sk_X509_num(chain), 1);
    sk_X509_pop_free(chain, X509_free);
    pkie_pki_close(pki);

    /* without its intermediate, a leaf's chain is the leaf alone */
    struct pkie_pki_store *st = NULL;
    assert_int_equal(pkie_pki_store_open(path, NULL, 0, &st), 0);
    assert_int_equal(pkie_pki_store_delete(st, "inter"), 0);
    pkie_pki_store_close(st);
    assert_int_equal(pkie_pki_open(path, NULL, 0, &pki), 0);
    assert_int_equal(pkie_pki_get_chain(pki, "alice", &chain, NULL), 0);
    assert_int_equal(sk_X509_num(chain), 1);
    sk_X509_pop_free(chain, X509_free);
    int alert = 0;
    assert_int_equal(pkie_pki_check(pki, "alice", &alert, NULL, 0), PKIE_ERR_PKI_CERT_UNKNOWN_CA);
    assert_int_equal(alert, 48);
    /* deep -> inter2, then the gap */
    assert_int_equal(pkie_pki_get_chain(pki, "deep", &chain, NULL), 0);
    assert_int_equal(sk_X509_num(chain), 2);
    sk_X509_pop_free(chain, X509_free);
    pkie_pki_close(pki);
}

static void test_wal_and_foreign_keys(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "wal.db", 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    sqlite3_close(db);

    /* delete cascades to the key */
    struct pkie_pki_store *st = NULL;
    assert_int_equal(pkie_pki_store_open(path, NULL, 0, &st), 0);
    assert_int_equal(pkie_pki_store_delete(st, "alice"), 0);
    assert_int_equal(pkie_pki_store_delete(st, "alice"), PKIE_ERR_PKI_UNKNOWN_ID);
    pkie_pki_store_close(st);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM key WHERE cert_id='alice'", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void test_wrong_password(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "pw.db", 0);
    struct pkie_pki *pki = NULL;
    assert_int_equal(pkie_pki_open(path, "not the password", 0, &pki), PKIE_ERR_PKI_PASSWORD);
    assert_null(pki);
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_PKI_PASSWORD);
    struct pkie_pki_store *st = NULL;
    assert_int_equal(pkie_pki_store_open(path, "", 0, &st), PKIE_ERR_PKI_PASSWORD);
    assert_null(st);
    assert_int_equal(pkie_pki_store_open(path, TB_PASSWORD "x", 0, &st), PKIE_ERR_PKI_PASSWORD);
}

/* Two writers opened before any key existed, with different passwords: the
 * second key stored must meet the first one's password check. */
static void test_password_race(void **state)
{
    (void)state;
    const char *path = tc_path(w, 0, "race.db");
    char p[512];
    snprintf(p, sizeof(p), "%s", path);
    unlink(p);
    struct pkie_pki_store *a = NULL, *b = NULL;
    assert_int_equal(pkie_pki_store_open(p, "password A", 1, &a), 0);
    assert_int_equal(pkie_pki_store_open(p, "password B", 0, &b), 0);
    assert_int_equal(pkie_pki_store_set_kdf_iter(a, PKIE_PKI_KDF_ITER_MIN), 0);
    assert_int_equal(pkie_pki_store_set_kdf_iter(b, PKIE_PKI_KDF_ITER_MIN), 0);
    /* certificates alone set no password */
    assert_int_equal(pkie_pki_store_add(b, "root", PKIE_PKI_TYPE_DETECT, w->root, NULL, NULL), 0);
    assert_int_equal(pkie_pki_store_add(a, "bob", PKIE_PKI_USER, w->user_ec, w->ec_key, NULL), 0);
    assert_int_equal(pkie_pki_store_add(b, "carol", PKIE_PKI_USER, w->user_ed, w->ed_key, NULL),
                     PKIE_ERR_PKI_PASSWORD);
    assert_int_equal(pkie_pki_store_add(a, "carol", PKIE_PKI_USER, w->user_ed, w->ed_key, NULL), 0);
    pkie_pki_store_close(a);
    pkie_pki_store_close(b);
    struct pkie_pki *pki = NULL;
    assert_int_equal(pkie_pki_open(p, "password B", 0, &pki), PKIE_ERR_PKI_PASSWORD);
    assert_int_equal(pkie_pki_open(p, "password A", 0, &pki), 0);
    assert_int_equal(pkie_pki_count(pki), 3);
    pkie_pki_close(pki);
}

static void test_no_password_no_key(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "nopw.db", 0);
    struct pkie_pki *pki = NULL;
    assert_int_equal(pkie_pki_open(path, NULL, 0, &pki), 0);
    assert_true(pkie_pki_find(pki, "alice")->has_key);
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    assert_int_equal(pkie_pki_get_chain(pki, "alice", &chain, &key), PKIE_ERR_PKI_NO_KEY);
    assert_null(chain);
    assert_null(key);
    assert_int_equal(pkie_pki_get_chain(pki, "alice", &chain, NULL), 0);
    sk_X509_pop_free(chain, X509_free);
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    unsigned char dg[32] = {0};
    assert_int_equal(pkie_pki_sign(pki, "alice", EVP_sha256(), 1, dg, 32, sig, &sig_len),
                     PKIE_ERR_PKI_NO_KEY);
    pkie_pki_close(pki);

    /* with the password, a certificate without key still has none */
    assert_int_equal(pkie_pki_open(path, TB_PASSWORD, 0, &pki), 0);
    assert_int_equal(pkie_pki_get_chain(pki, "expired", &chain, &key), PKIE_ERR_PKI_NO_KEY);
    pkie_pki_close(pki);

    /* a store opened without password cannot add keys */
    struct pkie_pki_store *st = NULL;
    assert_int_equal(pkie_pki_store_open(path, NULL, 0, &st), 0);
    assert_int_equal(pkie_pki_store_add(st, "bob2", PKIE_PKI_USER, w->user_ec, w->ec_key, NULL),
                     PKIE_ERR_PKI_NO_PASSWORD);
    pkie_pki_store_close(st);
}

static void test_import_errors(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "imp.db", 0);
    struct pkie_pki_store *st = NULL;
    enum pkie_pki_type t = PKIE_PKI_TYPE_DETECT;
    assert_int_equal(pkie_pki_store_open(path, TB_PASSWORD, 0, &st), 0);
    assert_int_equal(pkie_pki_store_set_kdf_iter(st, 5), PKIE_ERR_ARG);
    assert_int_equal(pkie_pki_store_set_kdf_iter(st, PKIE_PKI_KDF_ITER_MIN), 0);
    /* key that is not the certificate's */
    assert_int_equal(pkie_pki_store_add(st, "x1", PKIE_PKI_USER, w->user, w->ec_key, NULL),
                     PKIE_ERR_PKI_KEY_MISMATCH);
    /* duplicate id, with or without key */
    assert_int_equal(pkie_pki_store_add(st, "alice", PKIE_PKI_USER, w->user_ec, NULL, NULL),
                     PKIE_ERR_PKI_DUPLICATE_ID);
    assert_int_equal(pkie_pki_store_add(st, "bob", PKIE_PKI_USER, w->user_ec, w->ec_key, NULL),
                     PKIE_ERR_PKI_DUPLICATE_ID);
    /* bad ids */
    assert_int_equal(pkie_pki_store_add(st, "", PKIE_PKI_USER, w->user, NULL, NULL),
                     PKIE_ERR_PKI_BAD_ID);
    assert_int_equal(pkie_pki_store_add(st, "a b", PKIE_PKI_USER, w->user, NULL, NULL),
                     PKIE_ERR_PKI_BAD_ID);
    assert_int_equal(pkie_pki_store_add(st, "a'--", PKIE_PKI_USER, w->user, NULL, NULL),
                     PKIE_ERR_PKI_BAD_ID);
    char longid[PKIE_PKI_ID_MAX + 2];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(pkie_pki_store_add(st, longid, PKIE_PKI_USER, w->user, NULL, NULL),
                     PKIE_ERR_PKI_BAD_ID);
    longid[PKIE_PKI_ID_MAX] = '\0';
    assert_int_equal(pkie_pki_id_check(longid), 0);
    /* types that contradict the certificate */
    assert_int_equal(pkie_pki_store_add(st, "x2", PKIE_PKI_ROOT, w->user, NULL, NULL),
                     PKIE_ERR_PKI_TYPE);
    assert_int_equal(pkie_pki_store_add(st, "x3", PKIE_PKI_INTER, w->root, NULL, NULL),
                     PKIE_ERR_PKI_TYPE);
    assert_int_equal(pkie_pki_store_add(st, "x4", PKIE_PKI_ROOT, w->inter, NULL, NULL),
                     PKIE_ERR_PKI_TYPE);
    /* detection */
    assert_int_equal(pkie_pki_store_add(st, "x5", PKIE_PKI_TYPE_DETECT, w->inter2, NULL, &t), 0);
    assert_int_equal(t, PKIE_PKI_INTER);
    assert_int_equal(pkie_pki_type_detect(w->root), PKIE_PKI_ROOT);
    assert_int_equal(pkie_pki_type_detect(w->user), PKIE_PKI_USER);
    assert_int_equal(pkie_pki_type_parse("inter", &t), 0);
    assert_int_equal(t, PKIE_PKI_INTER);
    assert_int_equal(pkie_pki_type_parse("ca", &t), PKIE_ERR_ARG);
    assert_string_equal(pkie_pki_type_name(PKIE_PKI_ROOT), "root");
    pkie_pki_store_close(st);

    /* nothing of the failed imports reached the file */
    struct pkie_pki *pki = NULL;
    assert_int_equal(pkie_pki_open(path, TB_PASSWORD, 0, &pki), 0);
    assert_int_equal(pkie_pki_count(pki), 14);
    assert_null(pkie_pki_find(pki, "x1"));
    assert_null(pkie_pki_find(pki, "x2"));
    pkie_pki_close(pki);
}

/* What `pkie pki import` checks before adding: validity now, and for a user
 * certificate a CA of the base that verifies it. */
static void test_import_check(void **state)
{
    (void)state;
    const char *path = tc_path(w, 0, "check.db");
    unlink(path);
    struct pkie_pki_store *st = NULL;
    time_t now = time(NULL);
    assert_int_equal(pkie_pki_store_open(path, NULL, 1, &st), 0);
    /* an empty base: a root is fine, a user certificate has no issuer */
    assert_int_equal(pkie_pki_store_import_check(st, w->root, PKIE_PKI_TYPE_DETECT, now), 0);
    assert_int_equal(pkie_pki_store_import_check(st, w->user, PKIE_PKI_TYPE_DETECT, now),
                     PKIE_ERR_PKI_NO_ISSUER);
    assert_non_null(strstr(pkie_err_last()->msg, "is not a CA of the base"));
    assert_int_equal(pkie_pki_store_add(st, "root", PKIE_PKI_TYPE_DETECT, w->root, NULL, NULL), 0);
    /* the root is not the issuer of alice (inter is) */
    assert_int_equal(pkie_pki_store_import_check(st, w->user, PKIE_PKI_USER, now),
                     PKIE_ERR_PKI_NO_ISSUER);
    assert_int_equal(pkie_pki_store_import_check(st, w->inter, PKIE_PKI_TYPE_DETECT, now), 0);
    assert_int_equal(pkie_pki_store_add(st, "inter", PKIE_PKI_TYPE_DETECT, w->inter, NULL, NULL),
                     0);
    assert_int_equal(pkie_pki_store_import_check(st, w->user, PKIE_PKI_USER, now), 0);
    assert_int_equal(pkie_pki_store_import_check(st, w->user_ec, PKIE_PKI_TYPE_DETECT, now), 0);
    /* issued by a root the base lacks */
    assert_int_equal(pkie_pki_store_import_check(st, w->stranger, PKIE_PKI_TYPE_DETECT, now),
                     PKIE_ERR_PKI_NO_ISSUER);
    /* validity, whatever the issuer */
    assert_int_equal(pkie_pki_store_import_check(st, w->expired, PKIE_PKI_TYPE_DETECT, now),
                     PKIE_ERR_PKI_VALIDITY);
    assert_non_null(strstr(pkie_err_last()->msg, "expired"));
    assert_int_equal(pkie_pki_store_import_check(st, w->notyet, PKIE_PKI_TYPE_DETECT, now),
                     PKIE_ERR_PKI_VALIDITY);
    assert_non_null(strstr(pkie_err_last()->msg, "not valid yet"));
    /* alice seen from far in the future: expired */
    assert_int_equal(pkie_pki_store_import_check(st, w->user, PKIE_PKI_USER, now + 3650L * 86400),
                     PKIE_ERR_PKI_VALIDITY);
    assert_int_equal(pkie_pki_store_import_check(NULL, w->user, PKIE_PKI_USER, now), PKIE_ERR_ARG);
    pkie_pki_store_close(st);
    unlink(path);
}

static void test_unknown_ids(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "unk.db", 0);
    struct pkie_pki *pki = NULL;
    assert_int_equal(pkie_pki_open(path, TB_PASSWORD, 0, &pki), 0);
    STACK_OF(X509) *chain = NULL;
    assert_int_equal(pkie_pki_get_chain(pki, "nope", &chain, NULL), PKIE_ERR_PKI_UNKNOWN_ID);
    assert_null(chain);
    int alert = 0;
    assert_int_equal(pkie_pki_check(pki, "nope", &alert, NULL, 0), PKIE_ERR_PKI_UNKNOWN_ID);
    unsigned char sig[64];
    size_t sl = sizeof(sig);
    assert_int_equal(pkie_pki_sign(pki, "nope", EVP_sha256(), 1, sig, 32, sig, &sl),
                     PKIE_ERR_PKI_UNKNOWN_ID);
    STACK_OF(X509_NAME) *names = NULL;
    const char *ids[] = {"root", "nope"};
    assert_int_equal(pkie_pki_get_ca_names(pki, ids, 2, &names), PKIE_ERR_PKI_UNKNOWN_ID);
    assert_null(names);
    const char *ids2[] = {"root", "alice"};
    assert_int_equal(pkie_pki_get_ca_names(pki, ids2, 2, &names), PKIE_ERR_PKI_TYPE);
    const char *ids3[] = {"root", "inter"};
    assert_int_equal(pkie_pki_get_ca_names(pki, ids3, 2, &names), 0);
    assert_int_equal(sk_X509_NAME_num(names), 2);
    assert_int_equal(X509_NAME_cmp(sk_X509_NAME_value(names, 0), X509_get_subject_name(w->root)),
                     0);
    assert_int_equal(X509_NAME_cmp(sk_X509_NAME_value(names, 1), X509_get_subject_name(w->inter)),
                     0);
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    assert_int_equal(pkie_pki_get_chain(NULL, "alice", &chain, NULL), PKIE_ERR_ARG);
    pkie_pki_close(pki);
}

/* The key table holds PBES2-encrypted PKCS#8 only: no plaintext key bytes. */
static void test_keys_encrypted_at_rest(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "rest.db", 0);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rows = 0;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT cert_id, pkcs8_enc FROM key ORDER BY cert_id", -1, &q, NULL),
        SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        const unsigned char *blob = sqlite3_column_blob(q, 1), *p = blob;
        int n = sqlite3_column_bytes(q, 1);
        EVP_PKEY *k = strcmp(id, "alice") == 0 ? w->user_key
                      : strcmp(id, "bob") == 0 ? w->ec_key
                                               : w->ed_key;
        /* the private key in plaintext (PKCS#8 and traditional) must not appear */
        unsigned char *plain = NULL;
        int pl = i2d_PrivateKey(k, &plain);
        assert_true(pl > 0);
        assert_null(memmem(blob, (size_t)n, plain, (size_t)pl));
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
        unsigned char *p8der = NULL;
        int p8l = i2d_PKCS8_PRIV_KEY_INFO(p8, &p8der);
        assert_null(memmem(blob, (size_t)n, p8der, (size_t)p8l));
        /* and not even the last 16 bytes of the plaintext (the secret's tail) */
        assert_null(memmem(blob, (size_t)n, p8der + p8l - 16, 16));
        OPENSSL_clear_free(plain, (size_t)pl);
        OPENSSL_clear_free(p8der, (size_t)p8l);
        PKCS8_PRIV_KEY_INFO_free(p8);
        /* it is an EncryptedPrivateKeyInfo with PBES2 */
        X509_SIG *sig = d2i_X509_SIG(NULL, &p, n);
        assert_non_null(sig);
        const X509_ALGOR *alg = NULL;
        const ASN1_OBJECT *oid = NULL;
        X509_SIG_get0(sig, &alg, NULL);
        X509_ALGOR_get0(&oid, NULL, NULL, alg);
        assert_int_equal(OBJ_obj2nid(oid), NID_pbes2);
        X509_SIG_free(sig);
        rows++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_int_equal(rows, 3);
}

static void copy_file(const char *from, const char *to, long truncate_to)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    char buf[4096];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        if (truncate_to >= 0 && total + (long)n > truncate_to)
            n = (size_t)(truncate_to - total);
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        total += (long)n;
        if (truncate_to >= 0 && total >= truncate_to)
            break;
    }
    fclose(in);
    close(fd);
}

static void test_corrupt_files(void **state)
{
    (void)state;
    const char *good = tb_make_base(w, "good.db", 1);
    char goodp[512];
    snprintf(goodp, sizeof(goodp), "%s", good);
    struct stat st;
    assert_int_equal(stat(goodp, &st), 0);
    struct pkie_pki *pki = NULL;

    /* truncated to half */
    const char *half = tc_path(w, 0, "half.db");
    copy_file(goodp, half, (long)st.st_size / 2);
    int rc = pkie_pki_open(half, NULL, 0, &pki);
    assert_int_equal(rc, PKIE_ERR_PKI_CORRUPT);
    assert_null(pki);

    /* truncated inside the header */
    const char *tiny = tc_path(w, 0, "tiny.db");
    copy_file(goodp, tiny, 50);
    assert_int_not_equal(pkie_pki_open(tiny, NULL, 0, &pki), 0);
    assert_null(pki);

    /* not SQLite at all */
    const char *junk = tc_path(w, 0, "junk.db");
    int fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char garbage[8192];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)(i * 131 + 7);
    assert_int_equal(write(fd, garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
    close(fd);
    assert_int_equal(pkie_pki_open(junk, NULL, 0, &pki), PKIE_ERR_PKI_CORRUPT);
    assert_int_equal(pkie_pki_open(junk, NULL, 1, &pki), PKIE_ERR_PKI_CORRUPT);

    /* SQLite, but some other application's database */
    const char *other = tc_path(w, 0, "other.db");
    unlink(other);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    chmod(other, 0600);
    assert_int_equal(pkie_pki_open(other, NULL, 1, &pki), PKIE_ERR_PKI_CORRUPT);

    /* a newer schema version */
    const char *newer = tc_path(w, 0, "newer.db");
    copy_file(goodp, newer, -1);
    assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version=99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(pkie_pki_open(newer, NULL, 0, &pki), PKIE_ERR_PKI_SCHEMA);

    /* a certificate row whose DER was damaged */
    const char *dmg = tc_path(w, 0, "dmg.db");
    copy_file(goodp, dmg, -1);
    assert_int_equal(sqlite3_open(dmg, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE cert SET der=substr(der,1,100) WHERE id='inter'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(pkie_pki_open(dmg, NULL, 0, &pki), PKIE_ERR_PKI_CORRUPT);

    /* a key row moved to another certificate is refused when keys are loaded */
    const char *swp = tc_path(w, 0, "swap.db");
    copy_file(goodp, swp, -1);
    assert_int_equal(sqlite3_open(swp, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA foreign_keys=ON; DELETE FROM key WHERE cert_id='bob';"
                                  "UPDATE key SET cert_id='bob' WHERE cert_id='carol'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(pkie_pki_open(swp, TB_PASSWORD, 0, &pki), PKIE_ERR_PKI_CORRUPT);

    /* missing file without create */
    assert_int_equal(pkie_pki_open(tc_path(w, 0, "absent.db"), NULL, 0, &pki), PKIE_ERR_NOT_FOUND);
}

static void test_file_permissions(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "perm.db", 0);
    char p[512];
    snprintf(p, sizeof(p), "%s", path);
    struct pkie_pki *pki = NULL;
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), PKIE_ERR_PKI_PERM);
    struct pkie_pki_store *st = NULL;
    assert_int_equal(pkie_pki_store_open(p, NULL, 0, &st), PKIE_ERR_PKI_PERM);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), 0);
    pkie_pki_close(pki);
    /* the WAL and shared-memory files of an open handle are private too */
    struct pkie_pki_store *wst = NULL;
    assert_int_equal(pkie_pki_store_open(p, NULL, 0, &wst), 0);
    assert_int_equal(pkie_pki_store_delete(wst, "future"), 0);
    char side[600];
    struct stat ss;
    snprintf(side, sizeof(side), "%s-wal", p);
    assert_int_equal(stat(side, &ss), 0);
    assert_int_equal(ss.st_mode & 0777, 0600);
    snprintf(side, sizeof(side), "%s-shm", p);
    assert_int_equal(stat(side, &ss), 0);
    assert_int_equal(ss.st_mode & 0777, 0600);
    pkie_pki_store_close(wst);
    /* a symlink is not followed */
    const char *link = tc_path(w, 0, "link.db");
    unlink(link);
    assert_int_equal(symlink(p, link), 0);
    assert_int_not_equal(pkie_pki_open(link, NULL, 0, &pki), 0);
    /* created 0600 even with a permissive umask */
    mode_t old = umask(0);
    const char *fresh = tc_path(w, 0, "fresh.db");
    unlink(fresh);
    assert_int_equal(pkie_pki_open(fresh, NULL, 1, &pki), 0);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(fresh, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(pkie_pki_count(pki), 0);
    pkie_pki_close(pki);
}

/* A base file (or a WAL / shared-memory file beside it) owned by another
 * user is refused like one that others may read: its owner can rewrite it
 * (new trust anchors, a planted WAL replayed at open). Needs root to chown. */
static void test_file_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const char *path = tb_make_base(w, "owner.db", 0);
    char p[512], side[600];
    snprintf(p, sizeof(p), "%s", path);
    struct pkie_pki *pki = NULL;
    struct pkie_pki_store *st = NULL;
    assert_int_equal(chown(p, 4242, 4242), 0);
    assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), PKIE_ERR_PKI_PERM);
    assert_int_equal(pkie_pki_store_open(p, NULL, 0, &st), PKIE_ERR_PKI_PERM);
    assert_int_equal(chown(p, 0, 0), 0);
    assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), 0);
    pkie_pki_close(pki);
    pki = NULL;
    const char *sfx[] = {"-wal", "-shm"};
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof(side), "%s%s", p, sfx[i]);
        unlink(side);
        int fd = open(side, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(chown(side, 4242, 4242), 0);
        assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), PKIE_ERR_PKI_PERM);
        assert_int_equal(chown(side, 0, 0), 0);
        assert_int_equal(chmod(side, 0644), 0);
        assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), PKIE_ERR_PKI_PERM);
        unlink(side);
        assert_int_equal(symlink(p, side), 0);
        assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), PKIE_ERR_PKI_PERM);
        unlink(side);
    }
    assert_int_equal(pkie_pki_open(p, NULL, 0, &pki), 0);
    pkie_pki_close(pki);
}

static void test_crl_import(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "crl.db", 1);
    struct pkie_pki_store *st = NULL;
    assert_int_equal(pkie_pki_store_open(path, NULL, 0, &st), 0);
    /* an older CRL of the same issuer is refused; the same one again is fine */
    assert_int_equal(pkie_pki_store_add_crl(st, w->crl_old), PKIE_ERR_EXISTS);
    assert_int_equal(pkie_pki_store_add_crl(st, w->crl), 0);
    assert_int_equal(pkie_pki_store_add_crl(st, w->crl_other), 0);
    /* issuer not in the base any more */
    assert_int_equal(pkie_pki_store_delete(st, "other"), 0);
    assert_int_equal(pkie_pki_store_add_crl(st, w->crl_other), PKIE_ERR_PKI_CRL_ISSUER);
    /* a CRL whose signature does not verify with the issuer's key */
    X509_CRL *bad = tc_crl(w->inter, w->other_key, NULL, 0, 0);
    assert_int_equal(pkie_pki_store_add_crl(st, bad), PKIE_ERR_PKI_CRL_ISSUER);
    X509_CRL_free(bad);
    pkie_pki_store_close(st);
    struct pkie_pki *pki = NULL;
    assert_int_equal(pkie_pki_open(path, NULL, 0, &pki), 0);
    assert_int_equal(pkie_pki_crl_count(pki), 2);
    pkie_pki_close(pki);
}

static void test_check(void **state)
{
    (void)state;
    const char *path = tb_make_base(w, "check.db", 1);
    struct pkie_pki *pki = NULL;
    char detail[256];
    int alert = -1;
    assert_int_equal(pkie_pki_open(path, NULL, 0, &pki), 0);
    assert_int_equal(pkie_pki_check(pki, "alice", &alert, detail, sizeof(detail)), 0);
    assert_string_equal(detail, "ok");
    assert_int_equal(pkie_pki_check(pki, "deep", &alert, NULL, 0), 0);
    assert_int_equal(pkie_pki_check(pki, "root", &alert, NULL, 0), 0);
    assert_int_equal(pkie_pki_check(pki, "expired", &alert, detail, sizeof(detail)),
                     PKIE_ERR_PKI_CERT_EXPIRED);
    assert_int_equal(alert, 45);
    assert_non_null(strstr(detail, "expired"));
    assert_int_equal(pkie_pki_check(pki, "revoked", &alert, NULL, 0), PKIE_ERR_PKI_CERT_REVOKED);
    assert_int_equal(alert, 44);
    assert_int_equal(pkie_pki_check(pki, "forged", &alert, NULL, 0), PKIE_ERR_PKI_CERT_BAD);
    assert_int_equal(alert, 42);
    pkie_pki_close(pki);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_list_reopen),
        cmocka_unit_test(test_chain_gaps),
        cmocka_unit_test(test_wal_and_foreign_keys),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_password_race),
        cmocka_unit_test(test_import_check),
        cmocka_unit_test(test_no_password_no_key),
        cmocka_unit_test(test_import_errors),
        cmocka_unit_test(test_unknown_ids),
        cmocka_unit_test(test_keys_encrypted_at_rest),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_file_permissions),
        cmocka_unit_test(test_file_owner),
        cmocka_unit_test(test_crl_import),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
