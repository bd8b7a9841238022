/* Unit tests: the CMP exit's files (exits/cmp/files.c): private directory,
 * atomic writes, secrets, PEM certificate lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cmpx_state.h"
#include "pkie/error.h"

static char base[64];

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "/tmp/test_cmpexit_files.XXXXXX");
    return mkdtemp(base) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_dir(void **state)
{
    (void)state;
    char d[128];
    struct stat st;
    snprintf(d, sizeof(d), "%s/priv", base);
    assert_int_equal(cmpx_dir_prepare(d), 0);
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(chmod(d, 0755), 0);
    assert_int_equal(cmpx_dir_prepare(d), 0); /* tightened again */
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* negative: a file in the way, a missing parent */
    snprintf(d, sizeof(d), "%s/file", base);
    put(d, "x");
    assert_int_equal(cmpx_dir_prepare(d), PKIE_ERR_IO);
    snprintf(d, sizeof(d), "%s/no/such", base);
    assert_int_equal(cmpx_dir_prepare(d), PKIE_ERR_IO);
}

static void test_atomic(void **state)
{
    (void)state;
    char p[160], buf[64] = "";
    struct stat st;
    assert_int_equal(cmpx_write_atomic(base, "identity.pem", "first", 5), 0);
    assert_int_equal(cmpx_write_atomic(base, "identity.pem", "second", 6), 0);
    snprintf(p, sizeof(p), "%s/identity.pem", base);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "second");
    snprintf(p, sizeof(p), "%s/.tmp-identity.pem.%ld", base, (long)getpid());
    assert_int_equal(access(p, F_OK), -1); /* no temporary left */
    /* a stale temporary (a crashed process with our pid) is replaced */
    snprintf(p, sizeof(p), "%s/.tmp-x.%ld", base, (long)getpid());
    put(p, "stale");
    assert_int_equal(cmpx_write_atomic(base, "x", "y", 1), 0);
    assert_int_equal(access(p, F_OK), -1);
    /* negative: missing directory, path too long */
    char d[128];
    snprintf(d, sizeof(d), "%s/missing", base);
    assert_int_equal(cmpx_write_atomic(d, "f", "z", 1), PKIE_ERR_IO);
    char longname[5000];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(cmpx_write_atomic(base, longname, "z", 1), PKIE_ERR_LIMIT);
}

static void test_secret(void **state)
{
    (void)state;
    char p[128], s[64];
    snprintf(p, sizeof(p), "%s/secret", base);
    put(p, "s3cret\nsecond line\n");
    assert_int_equal(cmpx_read_secret(p, s, sizeof(s)), 0);
    assert_string_equal(s, "s3cret");
    put(p, "crlf\r\n");
    assert_int_equal(cmpx_read_secret(p, s, sizeof(s)), 0);
    assert_string_equal(s, "crlf");
    put(p, "");
    assert_int_equal(cmpx_read_secret(p, s, sizeof(s)), PKIE_ERR_CONF_VALUE);
    put(p, "\nlater\n");
    assert_int_equal(cmpx_read_secret(p, s, sizeof(s)), PKIE_ERR_CONF_VALUE);
    snprintf(p, sizeof(p), "%s/none", base);
    assert_int_equal(cmpx_read_secret(p, s, sizeof(s)), PKIE_ERR_IO);
}

static void test_certs(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof(p), "%s/none.pem", base);
    assert_null(cmpx_load_certs(p));
    snprintf(p, sizeof(p), "%s/garbage.pem", base);
    put(p, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
    assert_null(cmpx_load_certs(p));
    /* two certificates */
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    BIO *b = BIO_new_file(p, "w");
    assert_non_null(b);
    for (int i = 0; i < 2; i++) {
        X509 *x = X509_new();
        assert_non_null(x);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1);
        X509_NAME *n = cmpx_name_parse(i ? "/CN=two" : "/CN=one");
        X509_set_subject_name(x, n);
        X509_set_issuer_name(x, n);
        X509_NAME_free(n);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, k);
        assert_true(X509_sign(x, k, EVP_sha256()) > 0);
        assert_int_equal(PEM_write_bio_X509(b, x), 1);
        X509_free(x);
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    STACK_OF(X509) *sk = cmpx_load_certs(p);
    assert_non_null(sk);
    assert_int_equal(sk_X509_num(sk), 2);
    sk_X509_pop_free(sk, X509_free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir),
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_certs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
