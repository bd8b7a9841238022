/* Round-trip property: every DER object in tests/data/der and every
 * certificate of the system trust store (/etc/ssl/certs/ *.pem) is read with
 * the typed reader calls and re-encoded byte-identically by the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "der_walk.h"
#include "pkie/der.h"
#include "pkie/error.h"

#include <dirent.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At least this many trust-store certificates, so the test cannot pass
 * vacuously on a machine without ca-certificates. */
#define MIN_TRUST_STORE 50

static int check_one(const char *what, const uint8_t *p, size_t len)
{
    int rc = pkie_der_validate(p, len);
    if (rc != 0) {
        char e[512];
        print_error("%s: validate: %s\n", what, pkie_err_format(e, sizeof(e)));
        return -1;
    }
    rc = der_walk_roundtrip(p, len);
    if (rc != 0) {
        char e[512];
        print_error("%s: round trip %s: %s\n", what, rc > 0 ? "differs" : "failed",
                    rc > 0 ? "" : pkie_err_format(e, sizeof(e)));
        return -1;
    }
    return 0;
}

/* Every proper prefix of a valid object is truncated, and one more byte is
 * trailing; both are refused with that code. */
static int check_cuts(const char *what, const uint8_t *p, size_t len)
{
    uint8_t *copy = malloc(len + 1);
    int bad = 0;
    for (size_t cut = 1; cut < len && !bad; cut++) {
        uint8_t *prefix = malloc(cut);
        memcpy(prefix, p, cut);
        if (pkie_der_validate(prefix, cut) != PKIE_ERR_DER_TRUNCATED) {
            print_error("%s: prefix of %zu bytes not refused as truncated\n", what, cut);
            bad = 1;
        }
        free(prefix);
    }
    memcpy(copy, p, len);
    copy[len] = 0;
    if (pkie_der_validate(copy, len + 1) != PKIE_ERR_DER_TRAILING ||
        pkie_err_last()->offset != len) {
        print_error("%s: trailing byte not refused\n", what);
        bad = 1;
    }
    free(copy);
    return bad ? -1 : 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *x = realloc(buf, cap);
            if (x == NULL)
                break;
            buf = x;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_data_dir(void **state)
{
    (void)state;
    const char *data = getenv("PKIE_TEST_DATA");
    assert_non_null(data);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/der", data);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0, bad = 0;
    unsigned long elements = 0;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".der"))
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *p = slurp(path, &len);
        assert_non_null(p);
        if (check_one(e->d_name, p, len) != 0 || check_cuts(e->d_name, p, len) != 0)
            bad++;
        elements += der_walk_elements;
        free(p);
        n++;
    }
    closedir(d);
    print_message("tests/data/der: %d objects, %lu elements, %d failed\n", n, elements, bad);
    assert_true(n >= 10);
    assert_int_equal(bad, 0);
}

static void test_trust_store(void **state)
{
    (void)state;
    const char *dir = "/etc/ssl/certs";
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0, bad = 0;
    unsigned long elements = 0;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".pem"))
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        BIO *bio = BIO_new_file(path, "r");
        if (bio == NULL)
            continue;
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long len = 0;
        if (PEM_read_bio(bio, &name, &header, &der, &len) == 1 &&
            strcmp(name, "CERTIFICATE") == 0) {
            if (check_one(e->d_name, der, (size_t)len) != 0)
                bad++;
            elements += der_walk_elements;
            n++;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        BIO_free(bio);
    }
    closedir(d);
    print_message("trust store: %d certificates, %lu elements, %d failed\n", n, elements, bad);
    assert_true(n >= MIN_TRUST_STORE);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_dir),
        cmocka_unit_test(test_trust_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
