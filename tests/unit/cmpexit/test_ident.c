/* Unit tests: the CMP exit's identity file (exits/cmp/ident.c): save and
 * read, stamps, the directory's advisory lock, and what may be adopted from
 * disk (negative cases: corrupt, mismatched, foreign, older, expired). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cmpx_state.h"
#include "pkie/error.h"

static char dir[64];
static EVP_PKEY *ca_key, *other_ca_key;
static X509 *ca, *other_ca;
static X509_STORE *anchors;

/* A certificate for @p key named CN=@p cn, valid from now + @p nb to now + @p na. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, long nb,
                       long na, int is_ca)
{
    static long serial = 1;
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    X509_gmtime_adj(X509_getm_notBefore(x), nb);
    X509_gmtime_adj(X509_getm_notAfter(x), na);
    X509_set_pubkey(x, key);
    if (is_ca) {
        X509V3_CTX v;
        X509V3_set_ctx_nodb(&v);
        X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
        X509_EXTENSION *e =
            X509V3_EXT_conf_nid(NULL, &v, NID_basic_constraints, "critical,CA:TRUE");
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
    return x;
}

/* An identity of a new key with a leaf CN=@p cn issued by the test CA. */
static struct cmpx_ident *make_ident(const char *cn, long nb, long na, X509 *iss, EVP_PKEY *ikey)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *leaf = make_cert(cn, k, iss, ikey, nb, na, 0);
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, leaf);
    X509_up_ref(leaf);
    sk_X509_push(chain, iss);
    X509_up_ref(iss);
    struct cmpx_ident *id = cmpx_ident_new(k, leaf, chain);
    assert_non_null(id);
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    EVP_PKEY_free(k);
    return id;
}

static int group_setup(void **state)
{
    (void)state;
    ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    other_ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ca = make_cert("test root", ca_key, NULL, ca_key, -3600, 86400, 1);
    other_ca = make_cert("other root", other_ca_key, NULL, other_ca_key, -3600, 86400, 1);
    anchors = X509_STORE_new();
    X509_STORE_add_cert(anchors, ca);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    X509_STORE_free(anchors);
    X509_free(ca);
    X509_free(other_ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_ca_key);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_cmpexit_ident.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_save_read(void **state)
{
    (void)state;
    struct cmpx_ident *id = make_ident("me", -60, 3600, ca, ca_key), *got = NULL;
    struct cmpx_stamp st, st2, none;
    assert_int_equal(cmpx_ident_read(dir, &got, &none), 1); /* absent */
    assert_null(got);
    assert_int_equal(none.present, 0);
    assert_int_equal(cmpx_ident_save(dir, id, &st), 0);
    assert_int_equal(st.present, 1);
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, CMPX_IDENT_FILE);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(cmpx_ident_read(dir, &got, &st2), 0);
    assert_non_null(got);
    assert_true(cmpx_stamp_eq(&st, &st2));
    assert_int_equal(X509_cmp(got->leaf, id->leaf), 0);
    assert_int_equal(EVP_PKEY_eq(got->key, id->key), 1);
    /* served chain: leaf only (the root is left out) */
    assert_int_equal(got->count, 1);
    assert_int_equal(got->der_len, id->der_len);
    assert_memory_equal(got->der, id->der, id->der_len);
    assert_int_equal(sk_X509_num(got->chain), 2);
    assert_string_equal(got->policy, ""); /* none written: none read */
    cmpx_ident_free(got);
    /* the writer's renewal policy travels in the first line */
    snprintf(id->policy, sizeof(id->policy), "172800/0/3600");
    assert_int_equal(cmpx_ident_save(dir, id, &st), 0);
    assert_int_equal(cmpx_ident_read(dir, &got, &st2), 0);
    assert_string_equal(got->policy, "172800/0/3600");
    FILE *f = fopen(path, "r");
    char line[128];
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "# pkie cmp exit, renewal policy: 172800/0/3600\n");
    cmpx_ident_free(got);
    /* a policy line too long for the field: read as unknown */
    char *big = malloc(8192);
    FILE *in = fopen(path, "r");
    size_t n = fread(big, 1, 8191, in);
    fclose(in);
    big[n] = '\0';
    char *rest = strchr(big, '\n') + 1;
    f = fopen(path, "w");
    fprintf(f, "# pkie cmp exit, renewal policy: %0100d\n%s", 7, rest);
    fclose(f);
    free(big);
    assert_int_equal(cmpx_ident_read(dir, &got, NULL), 0);
    assert_string_equal(got->policy, "");
    /* rewritten (atomically: a new inode): another stamp */
    struct cmpx_ident *id2 = make_ident("me", -30, 3600, ca, ca_key);
    assert_int_equal(cmpx_ident_save(dir, id2, &st2), 0);
    assert_false(cmpx_stamp_eq(&st, &st2));
    struct cmpx_stamp st3;
    assert_int_equal(cmpx_stamp_of(dir, &st3), 0);
    assert_true(cmpx_stamp_eq(&st2, &st3));
    cmpx_ident_free(got);
    cmpx_ident_free(id);
    cmpx_ident_free(id2);
}

/* identity.pem with @p text: not read as an identity (negative code, no *out) */
static void expect_unusable(const char *text, const char *why)
{
    put(CMPX_IDENT_FILE, text);
    struct cmpx_ident *got = (struct cmpx_ident *)1;
    struct cmpx_stamp st;
    int rc = cmpx_ident_read(dir, &got, &st);
    assert_true(rc < 0);
    assert_null(got);
    assert_non_null(strstr(pkie_err_last()->msg, why));
    assert_int_equal(st.present, 1); /* the stamp is known: not read again until it changes */
}

static char *pem_of(EVP_PKEY *k, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (k != NULL)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    if (x != NULL)
        PEM_write_bio_X509(b, x);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static void test_read_corrupt(void **state)
{
    (void)state;
    struct cmpx_ident *id = make_ident("me", -60, 3600, ca, ca_key);
    expect_unusable("", "no private key");
    expect_unusable("garbage\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                    "no private key");
    char *s = pem_of(id->key, NULL);
    expect_unusable(s, "no certificate");
    free(s);
    s = pem_of(NULL, id->leaf);
    expect_unusable(s, "no private key");
    free(s);
    /* a certificate for another key */
    EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    s = pem_of(k2, id->leaf);
    expect_unusable(s, "does not match");
    free(s);
    /* a truncated file: the key, half a certificate */
    char *full = pem_of(id->key, id->leaf);
    full[strlen(full) - 200] = '\0';
    expect_unusable(full, "no certificate");
    free(full);
    EVP_PKEY_free(k2);
    /* a symbolic link is not followed */
    char path[256], target[256];
    snprintf(path, sizeof(path), "%s/%s", dir, CMPX_IDENT_FILE);
    snprintf(target, sizeof(target), "%s/elsewhere.pem", dir);
    assert_int_equal(cmpx_ident_save(dir, id, NULL), 0);
    assert_int_equal(rename(path, target), 0);
    assert_int_equal(symlink(target, path), 0);
    struct cmpx_ident *got = NULL;
    assert_true(cmpx_ident_read(dir, &got, NULL) < 0);
    assert_null(got);
    cmpx_ident_free(id);
}

static void test_adoptable(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct cmpx_ident *cur = make_ident("me", -600, 3600, ca, ca_key);
    struct cmpx_ident *newer = make_ident("me", -60, 7200, ca, ca_key);
    assert_int_equal(cmpx_ident_adoptable(newer, cur, anchors, NULL, now), 0);
    assert_int_equal(cmpx_ident_adoptable(newer, NULL, anchors, NULL, now), 0);
    /* the current one itself */
    assert_true(cmpx_ident_adoptable(cur, cur, anchors, NULL, now) < 0);
    /* older than the current one */
    assert_true(cmpx_ident_adoptable(cur, newer, anchors, NULL, now) < 0);
    assert_non_null(strstr(pkie_err_last()->msg, "older"));
    /* another subject */
    struct cmpx_ident *other = make_ident("someone else", -60, 7200, ca, ca_key);
    assert_true(cmpx_ident_adoptable(other, cur, anchors, NULL, now) < 0);
    assert_non_null(strstr(pkie_err_last()->msg, "subject"));
    /* expired */
    struct cmpx_ident *old = make_ident("me", -60, 3600, ca, ca_key);
    assert_true(cmpx_ident_adoptable(old, cur, anchors, NULL, now + 7200) < 0);
    assert_non_null(strstr(pkie_err_last()->msg, "expired"));
    /* issued by a CA that is not the trust anchor */
    struct cmpx_ident *foreign = make_ident("me", -60, 7200, other_ca, other_ca_key);
    assert_true(cmpx_ident_adoptable(foreign, cur, anchors, NULL, now) < 0);
    assert_non_null(strstr(pkie_err_last()->msg, "does not verify"));
    /* through save and read: what another process wrote is adoptable */
    struct cmpx_ident *got = NULL;
    assert_int_equal(cmpx_ident_save(dir, newer, NULL), 0);
    assert_int_equal(cmpx_ident_read(dir, &got, NULL), 0);
    assert_int_equal(cmpx_ident_adoptable(got, cur, anchors, NULL, now), 0);
    cmpx_ident_free(got);
    cmpx_ident_free(cur);
    cmpx_ident_free(newer);
    cmpx_ident_free(other);
    cmpx_ident_free(old);
    cmpx_ident_free(foreign);
}

/* 1 when another process could take the lock of dir at once */
static int lock_free_for_child(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, CMPX_LOCK_FILE);
        int fd = open(path, O_RDWR);
        _exit(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_lock(void **state)
{
    (void)state;
    int fd = cmpx_lock_take(dir);
    assert_true(fd >= 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, CMPX_LOCK_FILE);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_false(lock_free_for_child());
    /* another open in this process conflicts too (threads of one helper) */
    int fd2 = open(path, O_RDWR);
    assert_true(fd2 >= 0);
    assert_int_equal(flock(fd2, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
    close(fd2);
    cmpx_lock_release(fd);
    assert_true(lock_free_for_child());
    cmpx_lock_release(-1); /* ignored */
    /* no such directory; a symbolic link as the lock file */
    assert_true(cmpx_lock_take("/nonexistent/pkie-test") < 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("/tmp", path), 0);
    assert_true(cmpx_lock_take(dir) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adoptable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
