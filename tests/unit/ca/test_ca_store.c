/* Unit tests: CA store (src/ca/store*.c, cadir.c, keys.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ca_test_util.h"
#include "pkie/wipe.h"

#include <openssl/x509.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#define PASS "correct horse"

static char *init_ca(int intermediate)
{
    char *dir = ca_test_mkdtemp();
    assert_non_null(dir);
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/ca", dir);
    struct pkie_ca_init_params p = {
        .dir = sub, .subject = "/CN=Test Root/O=pkie", .pass = PASS, .intermediate = intermediate};
    p.db = ca_test_db(sub, 1);
    assert_int_equal(pkie_ca_dir_init(&p), 0);
    return dir;
}

static struct pkie_ca_store *open_ca(const char *dir, const char *pass)
{
    char sub[600];
    struct pkie_ca_store *s = NULL;
    snprintf(sub, sizeof(sub), "%s/ca", dir);
    assert_int_equal(pkie_ca_dir_open_db(sub, ca_test_db(sub, 0), pass, &s), 0);
    return s;
}

static void test_init_files_and_modes(void **state)
{
    (void)state;
    char *dir = init_ca(1);
    char path[700];
    struct stat st;
    snprintf(path, sizeof(path), "%s/ca", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    const char *files[] = {"root.crt", "issuer.crt", "signer.crt", "ca.db"};
    for (size_t i = 0; i < (ca_test_db(path, 0) != NULL ? 3 : 4); i++) {
        snprintf(path, sizeof(path), "%s/ca/%s", dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0077, 0);
    }
    /* a second init refuses */
    snprintf(path, sizeof(path), "%s/ca", dir);
    struct pkie_ca_init_params p = {.dir = path, .subject = "/CN=x", .pass = PASS};
    p.db = ca_test_db(path, 0);
    assert_int_equal(pkie_ca_dir_init(&p), PKIE_ERR_EXISTS);

    struct pkie_ca_store *s = open_ca(dir, PASS);
    X509 *root = NULL, *iss = NULL, *signer = NULL;
    EVP_PKEY *ikey = NULL;
    assert_int_equal(pkie_ca_store_get_ca(s, PKIE_CA_ROOT, NULL, &root, NULL), 0);
    assert_int_equal(pkie_ca_store_get_ca(s, PKIE_CA_ISSUER, PASS, &iss, &ikey), 0);
    assert_int_equal(pkie_ca_store_get_ca(s, PKIE_CA_SIGNER, NULL, &signer, NULL), 0);
    assert_int_equal(X509_check_private_key(iss, ikey), 1);
    assert_int_equal(X509_check_issued(root, iss), X509_V_OK);
    assert_int_equal(X509_check_issued(iss, signer), X509_V_OK);
    assert_int_equal(X509_check_ca(iss), 1);
    assert_int_equal(X509_check_ca(signer), 0);
    /* the CA key does not decrypt with a wrong passphrase */
    EVP_PKEY *bad = NULL;
    X509 *c2 = NULL;
    assert_int_equal(pkie_ca_store_get_ca(s, PKIE_CA_ISSUER, "wrong", &c2, &bad),
                     PKIE_ERR_CA_PASSWORD);
    assert_null(bad);
    assert_int_equal(pkie_ca_store_check(s), 0);
    X509_free(root);
    X509_free(iss);
    X509_free(signer);
    EVP_PKEY_free(ikey);
    pkie_ca_store_close(s);
    /* the data key does not unwrap with a wrong passphrase */
    snprintf(path, sizeof(path), "%s/ca", dir);
    assert_int_equal(pkie_ca_dir_open_db(path, ca_test_db(path, 0), "wrong", &s),
                     PKIE_ERR_CA_PASSWORD);
    assert_null(s);
    ca_test_rmdir(dir);
}

/* --db: which strings name PostgreSQL, and a password in one is refused. */
static void test_db_url(void **state)
{
    (void)state;
    assert_true(pkie_ca_db_is_url("postgresql://db.example/ca"));
    assert_true(pkie_ca_db_is_url("postgres:///ca?host=/run/postgresql"));
    assert_true(pkie_ca_db_is_url("host=/run/postgresql dbname=ca"));
    assert_true(pkie_ca_db_is_url("dbname = ca"));
    assert_false(pkie_ca_db_is_url(NULL));
    assert_false(pkie_ca_db_is_url(""));
    assert_false(pkie_ca_db_is_url("/var/lib/ca/ca.db"));
    assert_false(pkie_ca_db_is_url("ca.db"));
    assert_false(pkie_ca_db_is_url("./a=b.db"));
    assert_false(pkie_ca_db_is_url("=x"));
    assert_false(pkie_ca_db_is_url("Host=x"));
    assert_false(pkie_ca_db_is_url("postgresql:"));
    struct pkie_ca_store *s = NULL;
    assert_int_equal(pkie_ca_store_open("postgresql://u:secret@127.0.0.1/ca", 0, &s), PKIE_ERR_ARG);
    assert_null(s);
    assert_int_equal(pkie_ca_store_open("host=127.0.0.1 password=secret dbname=ca", 0, &s),
                     PKIE_ERR_ARG);
    assert_int_equal(pkie_ca_store_open("host=127.0.0.1 dbname='unterminated", 0, &s),
                     PKIE_ERR_ARG);
    assert_null(s);
}

static void sql(const char *path, const char *text)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* SQLite schema: a version 1 database (version in meta.schema, no nonce
 * tables) is migrated; a newer version than this pkie knows is refused. */
static void test_schema_migration(void **state)
{
    (void)state;
    char *dir = ca_test_mkdtemp();
    char path[600];
    snprintf(path, sizeof(path), "%s/v1.db", dir);
    sql(path,
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB);"
        "CREATE TABLE ca(name TEXT PRIMARY KEY, cert BLOB NOT NULL, key_pem TEXT);"
        "CREATE TABLE clients(ref TEXT PRIMARY KEY, secret BLOB NOT NULL,"
        " subject_pattern TEXT NOT NULL, san_pattern TEXT NOT NULL, profile TEXT NOT NULL,"
        " manual INTEGER NOT NULL, created INTEGER NOT NULL);"
        "CREATE TABLE txs(id INTEGER PRIMARY KEY AUTOINCREMENT, txid BLOB NOT NULL,"
        " state INTEGER NOT NULL, client_ref TEXT NOT NULL, subject TEXT NOT NULL,"
        " reason TEXT NOT NULL DEFAULT '', serial TEXT NOT NULL DEFAULT '',"
        " created INTEGER NOT NULL, updated INTEGER NOT NULL, request BLOB);"
        "CREATE TABLE certs(serial TEXT PRIMARY KEY, subject TEXT NOT NULL,"
        " der BLOB NOT NULL, status INTEGER NOT NULL, reason INTEGER NOT NULL DEFAULT -1,"
        " not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL,"
        " revoked_at INTEGER NOT NULL DEFAULT 0, client_ref TEXT NOT NULL DEFAULT '',"
        " tx_id INTEGER NOT NULL DEFAULT 0, cert_req_id INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO meta VALUES('schema', x'01');");
    struct pkie_ca_store *s = NULL;
    assert_int_equal(pkie_ca_store_open(path, 0, &s), 0);
    assert_string_equal(pkie_ca_store_backend(s), "sqlite");
    assert_int_equal(pkie_ca_store_nonce_remember(s, (const uint8_t *)"0123456789abcdef", 16,
                                                  (const uint8_t *)"tx", 2, 1, 100),
                     0);
    pkie_ca_store_close(s);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT version FROM schema_version),"
                                        " (SELECT count(*) FROM meta WHERE key='schema')",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), PKIE_CA_SCHEMA_VERSION);
    assert_int_equal(sqlite3_column_int(st, 1), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* opened again: nothing to migrate */
    assert_int_equal(pkie_ca_store_open(path, 0, &s), 0);
    pkie_ca_store_close(s);
    /* a newer schema is refused, an empty file is not a CA database */
    sql(path, "UPDATE schema_version SET version=99");
    assert_int_equal(pkie_ca_store_open(path, 0, &s), PKIE_ERR_CA_SCHEMA);
    assert_null(s);
    snprintf(path, sizeof(path), "%s/empty.db", dir);
    sql(path, "CREATE TABLE other(x)");
    assert_int_equal(pkie_ca_store_open(path, 0, &s), PKIE_ERR_CA_NOT_INIT);
    ca_test_rmdir(dir);
}

static void test_open_not_ca(void **state)
{
    (void)state;
    struct pkie_ca_store *s = NULL;
    char *dir = ca_test_mkdtemp();
    assert_int_equal(pkie_ca_dir_open(dir, NULL, &s), PKIE_ERR_CA_NOT_INIT);
    /* a file that is not a CA database */
    char path[600];
    snprintf(path, sizeof(path), "%s/ca.db", dir);
    FILE *f = fopen(path, "w");
    fputs("garbage that is not sqlite at all, long enough to be read as a header....", f);
    fclose(f);
    assert_true(pkie_ca_dir_open(dir, NULL, &s) < 0);
    assert_null(s);
    ca_test_rmdir(dir);
}

static void test_clients(void **state)
{
    (void)state;
    char *dir = init_ca(0);
    struct pkie_ca_store *s = open_ca(dir, PASS);
    struct pkie_ca_client c, got;
    ca_test_client(&c, "client1", "CN=*,O=pkie", "DNS:*.example.com");
    assert_int_equal(pkie_ca_store_client_add(s, &c), 0);
    assert_int_equal(pkie_ca_store_client_add(s, &c), PKIE_ERR_EXISTS);
    assert_int_equal(pkie_ca_store_client_get(s, "client1", &got), 0);
    assert_int_equal(got.secret_len, 6);
    assert_memory_equal(got.secret, "secret", 6);
    assert_string_equal(got.subject_pattern, "CN=*,O=pkie");
    assert_int_equal(pkie_ca_store_client_get(s, "nobody", &got), PKIE_ERR_CA_UNKNOWN_CLIENT);
    pkie_ca_store_close(s);

    /* without the passphrase the secret cannot be read */
    s = open_ca(dir, NULL);
    assert_int_equal(pkie_ca_store_client_get(s, "client1", &got), PKIE_ERR_CA_NO_PASSWORD);
    pkie_ca_store_close(s);

    s = open_ca(dir, PASS);
    assert_int_equal(pkie_ca_store_client_remove(s, "client1"), 0);
    assert_int_equal(pkie_ca_store_client_remove(s, "client1"), PKIE_ERR_CA_UNKNOWN_CLIENT);
    pkie_ca_store_close(s);
    ca_test_rmdir(dir);
}

/* A CA with its issuing key, a leaf key and subject, and client "c1" allowed
 * to request them: where the certificate tests start. */
struct issued_fx {
    char *dir;
    struct pkie_ca_store *s;
    X509 *icert;
    EVP_PKEY *ikey;
    struct pkie_ca_issuer iss;
    EVP_PKEY *k;
    X509_NAME *n;
    struct pkie_ca_client c;
};

static void fx_open(struct issued_fx *f, const char *key_type, const char *subject,
                    const char *pattern)
{
    memset(f, 0, sizeof(*f));
    f->dir = init_ca(0);
    f->s = open_ca(f->dir, PASS);
    assert_int_equal(pkie_ca_store_get_ca(f->s, PKIE_CA_ISSUER, PASS, &f->icert, &f->ikey), 0);
    f->iss = (struct pkie_ca_issuer){f->icert, f->ikey, NULL};
    f->k = pkie_ca_key_generate(key_type);
    f->n = pkie_ca_name_parse(subject);
    ca_test_client(&f->c, "c1", pattern, "");
}

static void fx_close(struct issued_fx *f)
{
    X509_NAME_free(f->n);
    EVP_PKEY_free(f->k);
    X509_free(f->icert);
    EVP_PKEY_free(f->ikey);
    pkie_ca_store_close(f->s);
    ca_test_rmdir(f->dir);
}

struct count {
    int n;
    char serials[64][48];
};

static int count_cb(void *arg, const struct pkie_ca_cert *c)
{
    struct count *k = arg;
    if (k->n < 64)
        snprintf(k->serials[k->n], 48, "%s", c->serial);
    k->n++;
    return 0;
}

static void test_certs_and_serials(void **state)
{
    (void)state;
    struct issued_fx f;
    fx_open(&f, "ec:P-256", "/CN=leaf/O=pkie", "CN=*,O=pkie");
    struct pkie_ca_request req = {.subject = f.n, .pubkey = f.k};
    const struct pkie_ca_profile *prof = pkie_ca_profile_find("default");
    X509 *x[20];
    for (int i = 0; i < 20; i++) {
        x[i] = pkie_ca_enroll(f.s, &f.iss, &f.c, prof, &req, PKIE_CA_CERT_ISSUED, 0, 0, 0);
        assert_non_null(x[i]);
        /* positive, 128-bit, at most 17 content octets */
        const ASN1_INTEGER *sn = X509_get0_serialNumber(x[i]);
        assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER);
        assert_true(ASN1_STRING_length(sn) <= 16);
    }
    struct count k1 = {0};
    assert_int_equal(pkie_ca_store_cert_list(f.s, 0, count_cb, &k1), 0);
    assert_int_equal(k1.n, 22); /* + the CMP signer and the key generation authority */
    for (int i = 0; i < k1.n; i++)
        for (int j = i + 1; j < k1.n; j++)
            assert_string_not_equal(k1.serials[i], k1.serials[j]);
    /* re-inserting the same certificate is a serial conflict */
    assert_int_equal(pkie_ca_store_cert_insert(f.s, x[0], 0, "c1", 0, 0, 0), PKIE_ERR_EXISTS);

    /* status transitions */
    char hex[48];
    struct pkie_ca_cert rec;
    assert_int_equal(pkie_ca_serial_hex(X509_get0_serialNumber(x[1]), hex, sizeof(hex)), 0);
    assert_int_equal(pkie_ca_store_cert_set_status(f.s, hex, PKIE_CA_CERT_CONFIRMED, -1), 0);
    assert_int_equal(pkie_ca_store_cert_set_status(f.s, hex, PKIE_CA_CERT_CONFIRMED, -1),
                     PKIE_ERR_STATE);
    assert_int_equal(pkie_ca_store_cert_set_status(f.s, hex, PKIE_CA_CERT_REVOKED, 1), 0);
    assert_int_equal(pkie_ca_store_cert_set_status(f.s, hex, PKIE_CA_CERT_REVOKED, 1),
                     PKIE_ERR_CA_REVOKED);
    assert_int_equal(pkie_ca_store_cert_set_status(f.s, "ABCDEF", PKIE_CA_CERT_REVOKED, 1),
                     PKIE_ERR_CA_UNKNOWN_CERT);
    assert_int_equal(pkie_ca_store_cert_get(f.s, hex, 1, &rec), 0);
    assert_int_equal(rec.status, PKIE_CA_CERT_REVOKED);
    assert_int_equal(rec.reason, 1);
    assert_true(rec.revoked_at > 0);
    const unsigned char *p = rec.der;
    X509 *back = d2i_X509(NULL, &p, (long)rec.der_len);
    assert_non_null(back);
    assert_int_equal(X509_cmp(back, x[1]), 0);
    X509_free(back);
    pkie_ca_cert_clear(&rec);
    /* lower case and 0x prefix find the same certificate */
    char lower[52] = "0x00";
    for (size_t i = 0; hex[i] != '\0'; i++)
        lower[4 + i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
    assert_int_equal(pkie_ca_store_cert_get(f.s, lower, 0, &rec), 0);
    assert_int_equal(pkie_ca_store_cert_get(f.s, "xyz", 0, &rec), PKIE_ERR_ARG);

    /* CRL lists the revoked one, CRL numbers increase */
    X509_CRL *crl = pkie_ca_crl_build(f.s, &f.iss, 3600);
    assert_non_null(crl);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
    assert_int_equal(X509_CRL_verify(crl, f.ikey), 1);
    X509_REVOKED *rev = NULL;
    assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(x[1])), 1);
    ASN1_INTEGER *num1 = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    X509_CRL *crl2 = pkie_ca_crl_build(f.s, &f.iss, 3600);
    ASN1_INTEGER *num2 = X509_CRL_get_ext_d2i(crl2, NID_crl_number, NULL, NULL);
    assert_true(ASN1_INTEGER_get(num2) == ASN1_INTEGER_get(num1) + 1);
    ASN1_INTEGER_free(num1);
    ASN1_INTEGER_free(num2);
    X509_CRL_free(crl);
    X509_CRL_free(crl2);

    for (int i = 0; i < 20; i++)
        X509_free(x[i]);
    fx_close(&f);
}

static int tx_cb(void *arg, const struct pkie_ca_tx *t)
{
    (*(int *)arg)++;
    assert_string_equal(t->client_ref, "c1");
    return 0;
}

/* A claimed nonce: refused while in flight and once stored, written with the
 * certificate (also when the insert itself fails on a serial conflict),
 * kept when its transactionID is refused, and never written twice. */
static void test_nonce_claim(void **state)
{
    (void)state;
    struct issued_fx f;
    fx_open(&f, "ec:P-256", "/CN=leaf/O=pkie", "CN=*,O=pkie");
    const uint8_t n1[16] = {0x51}, n2[16] = {0x52}, n3[16] = {0x53}, t1[4] = {1, 2, 3, 4};
    struct pkie_ca_nonce_claim a, b;

    assert_int_equal(pkie_ca_store_nonce_claim(f.s, &a, n1, 16, t1, 4, 1, 100), 0);
    assert_true(a.active && !a.committed);
    /* the same nonce while the first is in flight; a new transaction with its id */
    assert_int_equal(pkie_ca_store_nonce_claim(f.s, &b, n1, 16, t1, 4, 0, 100),
                     PKIE_ERR_CMP_NONCE_REPLAY);
    assert_false(b.active);
    assert_int_equal(pkie_ca_store_nonce_claim(f.s, &b, n2, 16, t1, 4, 1, 100),
                     PKIE_ERR_CMP_TID_IN_USE);
    assert_true(b.active);
    assert_int_equal(pkie_ca_store_nonce_commit(f.s, &b), 0); /* refused, still kept */
    pkie_ca_store_nonce_release(f.s, &b);

    /* written with the certificate: the commit after it has nothing to do */
    struct pkie_ca_request req = {.subject = f.n, .pubkey = f.k, .nonce = &a};
    X509 *x = pkie_ca_enroll(f.s, &f.iss, &f.c, pkie_ca_profile_find(NULL), &req,
                             PKIE_CA_CERT_CONFIRMED, 0, 0, 0);
    assert_non_null(x);
    assert_true(a.committed);
    assert_int_equal(pkie_ca_store_nonce_commit(f.s, &a), 0);
    pkie_ca_store_nonce_release(f.s, &a);
    assert_false(a.active);
    assert_int_equal(pkie_ca_store_nonce_claim(f.s, &a, n1, 16, NULL, 0, 0, 101),
                     PKIE_ERR_CMP_NONCE_REPLAY);
    assert_int_equal(pkie_ca_store_nonce_claim(f.s, &a, n2, 16, NULL, 0, 0, 101),
                     PKIE_ERR_CMP_NONCE_REPLAY);

    /* a serial conflict fails the insert, the nonce is written all the same */
    assert_int_equal(pkie_ca_store_nonce_claim(f.s, &a, n3, 16, NULL, 0, 0, 102), 0);
    assert_int_equal(pkie_ca_store_cert_insert_claim(f.s, x, 0, "c1", 0, 0, 0, &a),
                     PKIE_ERR_EXISTS);
    assert_true(a.committed);
    pkie_ca_store_nonce_release(f.s, &a);
    assert_int_equal(pkie_ca_store_nonce_claim(f.s, &a, n3, 16, NULL, 0, 0, 103),
                     PKIE_ERR_CMP_NONCE_REPLAY);
    int purged = 0;
    assert_int_equal(pkie_ca_store_nonce_purge(f.s, 1000, &purged), 0);
    assert_int_equal(purged, 3);

    X509_free(x);
    fx_close(&f);
}

static void test_transactions(void **state)
{
    (void)state;
    char *dir = init_ca(0);
    struct pkie_ca_store *s = open_ca(dir, PASS);
    int64_t id = 0, id2 = 0;
    const uint8_t tid[16] = {1, 2, 3};
    assert_int_equal(pkie_ca_store_tx_create(s, tid, 16, PKIE_CA_TX_WAITING, "c1", "CN=a",
                                             (const uint8_t *)"req", 3, &id),
                     0);
    assert_int_equal(pkie_ca_store_tx_create(s, tid, 0, 0, "c1", "", NULL, 0, &id2), PKIE_ERR_ARG);
    struct pkie_ca_tx t;
    assert_int_equal(pkie_ca_store_tx_get(s, 0, tid, 16, &t), 0);
    assert_int_equal(t.id, id);
    assert_int_equal(t.request_len, 3);
    assert_memory_equal(t.request, "req", 3);
    pkie_ca_tx_clear(&t);
    int n = 0;
    assert_int_equal(pkie_ca_store_tx_list(s, PKIE_CA_TX_WAITING, tx_cb, &n), 0);
    assert_int_equal(n, 1);
    /* approve only from waiting */
    assert_int_equal(
        pkie_ca_store_tx_set_state(s, id, PKIE_CA_TX_WAITING, PKIE_CA_TX_APPROVED, NULL), 0);
    assert_int_equal(
        pkie_ca_store_tx_set_state(s, id, PKIE_CA_TX_WAITING, PKIE_CA_TX_REJECTED, "no"),
        PKIE_ERR_STATE);
    assert_int_equal(pkie_ca_store_tx_get(s, 9999, NULL, 0, &t), PKIE_ERR_CA_UNKNOWN_TX);
    /* expiry: nothing young expires, everything old does */
    int expired = -1;
    assert_int_equal(pkie_ca_store_tx_expire(s, 3600, &expired), 0);
    assert_int_equal(expired, 0);
    assert_int_equal(pkie_ca_store_tx_expire(s, -10, &expired), 0);
    assert_int_equal(expired, 1);
    assert_int_equal(pkie_ca_store_tx_get(s, id, NULL, 0, &t), 0);
    assert_int_equal(t.state, PKIE_CA_TX_EXPIRED);
    pkie_ca_tx_clear(&t);
    pkie_ca_store_close(s);
    ca_test_rmdir(dir);
}

static void test_unconfirmed_revoked_on_expiry(void **state)
{
    (void)state;
    struct issued_fx f;
    fx_open(&f, "ed25519", "CN=leaf", "CN=*");
    struct pkie_ca_request req = {.subject = f.n, .pubkey = f.k};
    int64_t id = 0;
    const uint8_t tid[4] = {9, 9, 9, 9};
    assert_int_equal(
        pkie_ca_store_tx_create(f.s, tid, 4, PKIE_CA_TX_APPROVED, "c1", "CN=leaf", NULL, 0, &id),
        0);
    X509 *x = pkie_ca_enroll(f.s, &f.iss, &f.c, pkie_ca_profile_find(NULL), &req,
                             PKIE_CA_CERT_ISSUED, id, 0, PKIE_CA_TX_ISSUED);
    assert_non_null(x);
    struct pkie_ca_tx t;
    assert_int_equal(pkie_ca_store_tx_get(f.s, id, NULL, 0, &t), 0);
    assert_int_equal(t.state, PKIE_CA_TX_ISSUED);
    char hex[48];
    pkie_ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex));
    assert_string_equal(t.serial, hex);
    int m = 0;
    assert_int_equal(pkie_ca_store_tx_expire(f.s, -10, &m), 0);
    assert_int_equal(m, 1);
    struct pkie_ca_cert rec;
    assert_int_equal(pkie_ca_store_cert_get(f.s, hex, 0, &rec), 0);
    assert_int_equal(rec.status, PKIE_CA_CERT_REVOKED);
    assert_int_equal(rec.reason, 5);
    X509_free(x);
    fx_close(&f);
}

static void test_pass_read(void **state)
{
    (void)state;
    char *dir = ca_test_mkdtemp();
    char path[600];
    snprintf(path, sizeof(path), "%s/pass", dir);
    FILE *f = fopen(path, "w");
    fputs("filepass\nsecond line\n", f);
    fclose(f);
    char *p = pkie_ca_pass_read(path, NULL);
    assert_string_equal(p, "filepass");
    pkie_wipe_free_str(p);
    setenv("PKIE_TEST_PASSVAR", "envpass", 1);
    p = pkie_ca_pass_read(NULL, "env:PKIE_TEST_PASSVAR");
    assert_string_equal(p, "envpass");
    pkie_wipe_free_str(p);
    assert_null(pkie_ca_pass_read(NULL, "literalpass"));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_ARG);
    unsetenv("PKIE_CA_PASS");
    assert_null(pkie_ca_pass_read(NULL, NULL));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_CA_NO_PASSWORD);
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_null(pkie_ca_pass_read(path, NULL));
    assert_int_equal(pkie_err_last()->code, PKIE_ERR_IO);
    ca_test_rmdir(dir);
}

static void test_keys(void **state)
{
    (void)state;
    const char *types[] = {"ec:P-256", "ec:P-384", "ed25519", "rsa:2048"};
    for (size_t i = 0; i < 4; i++) {
        EVP_PKEY *k = pkie_ca_key_generate(types[i]);
        assert_non_null(k);
        char *pem = pkie_ca_key_encrypt(k, "pw");
        assert_non_null(pem);
        assert_non_null(strstr(pem, "ENCRYPTED PRIVATE KEY"));
        EVP_PKEY *back = pkie_ca_key_decrypt(pem, "pw");
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(k, back), 1);
        assert_null(pkie_ca_key_decrypt(pem, "wrong"));
        assert_int_equal(pkie_err_last()->code, PKIE_ERR_CA_PASSWORD);
        EVP_PKEY_free(back);
        EVP_PKEY_free(k);
        free(pem);
    }
    assert_null(pkie_ca_key_generate("rsa:1024"));
    assert_null(pkie_ca_key_generate("dsa:2048"));
    assert_null(pkie_ca_key_encrypt(NULL, ""));
}

/* The client lookup that reads the stored-nonce lookup ahead (PostgreSQL; on
 * SQLite the claim asks itself): the same answers as the claim alone; an
 * ahead read for another nonce is not used; a nonce stored after the ahead
 * read passes the claim and is refused at the durable write. */
static void test_client_get_ahead(void **state)
{
    (void)state;
    struct issued_fx f;
    fx_open(&f, "ec:P-256", "/CN=leaf/O=pkie", "CN=*,O=pkie");
    int pg = ca_test_db("x", 0) != NULL;
    assert_int_equal(pkie_ca_store_client_add(f.s, &f.c), 0);
    const uint8_t n1[16] = {0x61}, n2[16] = {0x62}, n3[16] = {0x63}, t1[4] = {9, 9, 9, 9};
    struct pkie_ca_client c;
    struct pkie_ca_nonce_claim cl;
    assert_int_equal(pkie_ca_store_nonce_remember(f.s, n1, 16, t1, 4, 1, 100), 0);

    struct pkie_ca_ahead a = {.nonce = n1, .nonce_len = 16, .txid = t1, .txid_len = 4, .new_tx = 0};
    assert_int_equal(pkie_ca_store_client_get_ahead(f.s, "c1", &c, &a), 0);
    assert_int_equal((int)c.secret_len, 6);
    assert_memory_equal(c.secret, "secret", 6);
    assert_int_equal(a.done, pg);
    if (pg)
        assert_int_equal(a.what, 1);
    assert_int_equal(pkie_ca_store_nonce_claim_ahead(f.s, &cl, n1, 16, t1, 4, 0, 101, &a),
                     PKIE_ERR_CMP_NONCE_REPLAY);
    /* a new transaction with the stored transactionID */
    a = (struct pkie_ca_ahead){
        .nonce = n2, .nonce_len = 16, .txid = t1, .txid_len = 4, .new_tx = 1};
    assert_int_equal(pkie_ca_store_client_get_ahead(f.s, "c1", &c, &a), 0);
    if (pg)
        assert_true(a.what == 2 && a.tx_known && a.tx_state == -1);
    assert_int_equal(pkie_ca_store_nonce_claim_ahead(f.s, &cl, n2, 16, t1, 4, 1, 101, &a),
                     PKIE_ERR_CMP_TID_IN_USE);
    pkie_ca_store_nonce_release(f.s, &cl);
    /* read ahead for n3, claimed for n1: the claim asks the database */
    a = (struct pkie_ca_ahead){.nonce = n3, .nonce_len = 16, .txid = NULL, .txid_len = 0};
    assert_int_equal(pkie_ca_store_client_get_ahead(f.s, "c1", &c, &a), 0);
    if (pg)
        assert_int_equal(a.what, 0);
    assert_int_equal(pkie_ca_store_nonce_claim_ahead(f.s, &cl, n1, 16, NULL, 0, 0, 102, &a),
                     PKIE_ERR_CMP_NONCE_REPLAY);
    /* n3 stored (by another node) after the read ahead: refused at the write */
    assert_int_equal(pkie_ca_store_nonce_remember(f.s, n3, 16, NULL, 0, 0, 103), 0);
    int rc = pkie_ca_store_nonce_claim_ahead(f.s, &cl, n3, 16, NULL, 0, 0, 103, &a);
    if (pg) {
        assert_int_equal(rc, 0);
        assert_int_equal(pkie_ca_store_nonce_commit(f.s, &cl), PKIE_ERR_CMP_NONCE_REPLAY);
        assert_false(cl.committed);
        pkie_ca_store_nonce_release(f.s, &cl);
    } else {
        assert_int_equal(rc, PKIE_ERR_CMP_NONCE_REPLAY);
    }
    /* an unknown client, and a nonce the claim would refuse: no lookup ahead */
    assert_int_equal(pkie_ca_store_client_get_ahead(f.s, "nobody", &c, &a),
                     PKIE_ERR_CA_UNKNOWN_CLIENT);
    a = (struct pkie_ca_ahead){.nonce = n3, .nonce_len = 0};
    assert_int_equal(pkie_ca_store_client_get_ahead(f.s, "c1", &c, &a), 0);
    assert_false(a.done);
    fx_close(&f);
}

/* ---- concurrent durable writes ----------------------------------------------------------- */

#define WT 16 /* writers at once: four groups of four */

struct wjob {
    struct pkie_ca_store *s;
    X509 *x;
    uint8_t nonce[16];
    pthread_barrier_t *go;
    int claim_rc, rc, committed;
};

static void *write_job(void *arg)
{
    struct wjob *j = arg;
    struct pkie_ca_nonce_claim c;
    pthread_barrier_wait(j->go);
    j->claim_rc = pkie_ca_store_nonce_claim(j->s, &c, j->nonce, 16, NULL, 0, 0, 200);
    if (j->claim_rc == 0) {
        j->rc = pkie_ca_store_cert_insert_claim(j->s, j->x, 0, "c1", 0, 0, 0, &c);
        j->committed = c.committed;
        pkie_ca_store_nonce_release(j->s, &c);
    }
    return NULL;
}

static X509 *with_serial(const X509 *x, uint64_t v)
{
    X509 *y = X509_dup(x);
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    assert_non_null(y);
    assert_int_equal(ASN1_INTEGER_set_uint64(sn, v), 1);
    assert_int_equal(X509_set_serialNumber(y, sn), 1);
    ASN1_INTEGER_free(sn);
    return y;
}

static int stored(struct pkie_ca_store *s, const X509 *x)
{
    char hex[48];
    struct pkie_ca_cert rec;
    assert_int_equal(pkie_ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex)), 0);
    int rc = pkie_ca_store_cert_get(s, hex, 0, &rec);
    pkie_ca_cert_clear(&rec);
    assert_true(rc == 0 || rc == PKIE_ERR_CA_UNKNOWN_CERT);
    return rc == 0;
}

/* Writes made at once are committed together (SQLite: one transaction;
 * PostgreSQL: one statement), yet each keeps its own outcome: in each group
 * of four writers, two on two nodes (two stores on one database) write the
 * same senderNonce with different certificates (one wins, the other is a
 * replay and its certificate is not stored), one reuses a stored serial
 * (its write fails, its nonce is kept), one is plain. */
static void test_concurrent_writes(void **state)
{
    (void)state;
    struct issued_fx f;
    fx_open(&f, "ec:P-256", "/CN=leaf/O=pkie", "CN=*,O=pkie");
    struct pkie_ca_store *s2 = open_ca(f.dir, PASS);
    struct pkie_ca_request req = {.subject = f.n, .pubkey = f.k};
    X509 *x0 = pkie_ca_enroll(f.s, &f.iss, &f.c, pkie_ca_profile_find(NULL), &req,
                              PKIE_CA_CERT_CONFIRMED, 0, 0, 0);
    assert_non_null(x0);
    int64_t before = 0, after = 0;
    assert_int_equal(pkie_ca_store_cert_count(f.s, &before), 0);
    int wins = 0;
    for (int round = 0; round < 4; round++) {
        pthread_barrier_t go;
        struct wjob j[WT];
        pthread_t th[WT];
        assert_int_equal(pthread_barrier_init(&go, NULL, WT), 0);
        for (int i = 0; i < WT; i++) {
            memset(&j[i], 0, sizeof(j[i]));
            j[i].go = &go;
            j[i].s = i % 4 == 1 ? s2 : f.s;
            j[i].nonce[0] = 0xa0;
            j[i].nonce[1] = (uint8_t)round;
            j[i].nonce[2] = (uint8_t)(i % 4 == 1 ? i - 1 : i); /* the pair's shared nonce */
            j[i].x = i % 4 == 2 ? X509_dup(x0) : with_serial(x0, 0x7e570000u + round * WT + i);
            assert_int_equal(pthread_create(&th[i], NULL, write_job, &j[i]), 0);
        }
        for (int i = 0; i < WT; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < WT; i += 4) {
            /* the pair: exactly one stored, the other refused as a replay
             * (at its claim when the winner had committed, else at its write) */
            int a_ok = j[i].claim_rc == 0 && j[i].rc == 0;
            int b_ok = j[i + 1].claim_rc == 0 && j[i + 1].rc == 0;
            assert_int_equal(a_ok + b_ok, 1);
            struct wjob *loser = a_ok ? &j[i + 1] : &j[i];
            assert_int_equal(loser->claim_rc != 0 ? loser->claim_rc : loser->rc,
                             PKIE_ERR_CMP_NONCE_REPLAY);
            assert_true(stored(f.s, (a_ok ? &j[i] : &j[i + 1])->x));
            assert_false(stored(f.s, loser->x));
            /* the stored serial: refused, nonce kept */
            assert_int_equal(j[i + 2].claim_rc, 0);
            assert_int_equal(j[i + 2].rc, PKIE_ERR_EXISTS);
            assert_true(j[i + 2].committed);
            assert_int_equal(j[i + 3].claim_rc, 0);
            assert_int_equal(j[i + 3].rc, 0);
            assert_true(j[i + 3].committed);
            assert_true(stored(s2, j[i + 3].x));
            wins += 2;
        }
        for (int i = 0; i < WT; i++) { /* every nonce is kept, seen from either node */
            struct pkie_ca_nonce_claim c;
            assert_int_equal(
                pkie_ca_store_nonce_claim(i % 2 ? s2 : f.s, &c, j[i].nonce, 16, NULL, 0, 0, 300),
                PKIE_ERR_CMP_NONCE_REPLAY);
            X509_free(j[i].x);
        }
    }
    assert_int_equal(pkie_ca_store_cert_count(s2, &after), 0);
    assert_int_equal(after, before + wins);
    X509_free(x0);
    pkie_ca_store_close(s2);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_files_and_modes),
        cmocka_unit_test(test_open_not_ca),
        cmocka_unit_test(test_clients),
        cmocka_unit_test(test_certs_and_serials),
        cmocka_unit_test(test_nonce_claim),
        cmocka_unit_test(test_concurrent_writes),
        cmocka_unit_test(test_client_get_ahead),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_unconfirmed_revoked_on_expiry),
        cmocka_unit_test(test_pass_read),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_db_url),
        cmocka_unit_test(test_schema_migration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
