/* Test certificates made at test time with OpenSSL's API. */
#include "pki_testcerts.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>

static void die(const char *what)
{
    fprintf(stderr, "test certificate helper: %s failed\n", what);
    abort();
}

EVP_PKEY *tc_key(enum tc_keytype type)
{
    EVP_PKEY *k = NULL;
    switch (type) {
    case TC_EC:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case TC_RSA:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case TC_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    }
    if (k == NULL)
        die("keygen");
    return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL || !X509_add_ext(cert, ext, -1))
        die("extension");
    X509_EXTENSION_free(ext);
}

X509 *tc_cert(const struct tc_opts *o, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *c = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (c == NULL || name == NULL)
        die("X509_new");
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), o->serial);
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"DE", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               (const unsigned char *)(o->o ? o->o : "pkie test"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)o->cn, -1, -1, 0);
    X509_set_subject_name(c, name);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    X509_gmtime_adj(X509_getm_notBefore(c), o->not_before_days * 86400L);
    X509_gmtime_adj(X509_getm_notAfter(c), o->not_after_days * 86400L);
    X509_set_pubkey(c, key);
    X509 *iss = issuer ? issuer : c;
    add_ext(c, iss, NID_subject_key_identifier, "hash");
    add_ext(c, iss, NID_authority_key_identifier, "keyid:always");
    if (o->ca) {
        add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c, iss, NID_key_usage, "critical,digitalSignature");
    }
    EVP_PKEY *sk = issuer_key ? issuer_key : key;
    const EVP_MD *md = EVP_PKEY_get_base_id(sk) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    if (X509_sign(c, sk, md) <= 0)
        die("X509_sign");
    return c;
}

X509_CRL *tc_crl(X509 *issuer, EVP_PKEY *issuer_key, const long *revoked, size_t n,
                 long this_update_offset)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    if (crl == NULL || t == NULL)
        die("X509_CRL_new");
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    X509_gmtime_adj(t, this_update_offset);
    X509_CRL_set1_lastUpdate(crl, t);
    X509_gmtime_adj(t, this_update_offset + 7 * 86400L);
    X509_CRL_set1_nextUpdate(crl, t);
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *s = ASN1_INTEGER_new();
        ASN1_INTEGER_set(s, revoked[i]);
        X509_REVOKED_set_serialNumber(r, s);
        X509_gmtime_adj(t, this_update_offset - 3600);
        X509_REVOKED_set_revocationDate(r, t);
        ASN1_INTEGER_free(s);
        if (!X509_CRL_add0_revoked(crl, r))
            die("add revoked");
    }
    ASN1_TIME_free(t);
    X509_CRL_sort(crl);
    const EVP_MD *md = EVP_PKEY_get_base_id(issuer_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    if (X509_CRL_sign(crl, issuer_key, md) <= 0)
        die("X509_CRL_sign");
    return crl;
}

void tc_write_cert(const char *path, X509 *cert)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || !PEM_write_X509(f, cert))
        die("write cert");
    fclose(f);
}

void tc_write_key(const char *path, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
        die("write key");
    fclose(f);
}

#include <string.h>
#include <unistd.h>

struct tc_world *tc_world_new(void)
{
    struct tc_world *w = calloc(1, sizeof(*w));
    if (w == NULL)
        die("calloc");
    const char *tmp = getenv("TMPDIR");
    snprintf(w->dir, sizeof(w->dir), "%s/pkie-pki-test-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(w->dir) == NULL)
        die("mkdtemp");
    w->root_key = tc_key(TC_EC);
    w->inter_key = tc_key(TC_EC);
    w->inter2_key = tc_key(TC_EC);
    w->other_key = tc_key(TC_EC);
    w->user_key = tc_key(TC_RSA);
    w->ec_key = tc_key(TC_EC);
    w->ed_key = tc_key(TC_ED25519);
    struct tc_opts o = {"Test Root", NULL, 1, -1, 3650, 1};
    w->root = tc_cert(&o, w->root_key, NULL, NULL);
    o = (struct tc_opts){"Test Inter", NULL, 1, -1, 1825, 2};
    w->inter = tc_cert(&o, w->inter_key, w->root, w->root_key);
    o = (struct tc_opts){"Test Inter 2", NULL, 1, -1, 1825, 3};
    w->inter2 = tc_cert(&o, w->inter2_key, w->inter, w->inter_key);
    o = (struct tc_opts){"Other Root", "elsewhere", 1, -1, 3650, 1};
    w->other_root = tc_cert(&o, w->other_key, NULL, NULL);
    o = (struct tc_opts){"alice", NULL, 0, -1, 365, 100};
    w->user = tc_cert(&o, w->user_key, w->inter, w->inter_key);
    o = (struct tc_opts){"bob", NULL, 0, -1, 365, 101};
    w->user_ec = tc_cert(&o, w->ec_key, w->inter, w->inter_key);
    o = (struct tc_opts){"carol", NULL, 0, -1, 365, 102};
    w->user_ed = tc_cert(&o, w->ed_key, w->inter, w->inter_key);
    o = (struct tc_opts){"old", NULL, 0, -30, -2, 103};
    w->expired = tc_cert(&o, w->ec_key, w->inter, w->inter_key);
    o = (struct tc_opts){"revoked", NULL, 0, -1, 365, 104};
    w->revoked = tc_cert(&o, w->ec_key, w->inter, w->inter_key);
    o = (struct tc_opts){"future", NULL, 0, 10, 365, 105};
    w->notyet = tc_cert(&o, w->ec_key, w->inter, w->inter_key);
    o = (struct tc_opts){"deep", NULL, 0, -1, 365, 106};
    w->deep = tc_cert(&o, w->ec_key, w->inter2, w->inter2_key);
    o = (struct tc_opts){"mallory", "elsewhere", 0, -1, 365, 107};
    w->stranger = tc_cert(&o, w->ec_key, w->other_root, w->other_key);
    o = (struct tc_opts){"forged", NULL, 0, -1, 365, 108};
    w->badsig = tc_cert(&o, w->ec_key, w->inter, w->other_key);
    long rev = 104;
    w->crl = tc_crl(w->inter, w->inter_key, &rev, 1, -60);
    w->crl_old = tc_crl(w->inter, w->inter_key, NULL, 0, -86400);
    w->crl_other = tc_crl(w->other_root, w->other_key, NULL, 0, -60);
    return w;
}

void tc_world_free(struct tc_world *w)
{
    if (w == NULL)
        return;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", w->dir);
    EVP_PKEY *keys[] = {w->root_key, w->inter_key, w->inter2_key, w->other_key,
                        w->user_key, w->ec_key,    w->ed_key};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        EVP_PKEY_free(keys[i]);
    X509 *certs[] = {w->root,    w->inter,    w->inter2,  w->other_root, w->user,
                     w->user_ec, w->user_ed,  w->expired, w->revoked,    w->notyet,
                     w->deep,    w->stranger, w->badsig};
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
        X509_free(certs[i]);
    X509_CRL_free(w->crl);
    X509_CRL_free(w->crl_old);
    X509_CRL_free(w->crl_other);
    free(w);
}

const char *tc_path(struct tc_world *w, int slot, const char *name)
{
    static char buf[4][512];
    snprintf(buf[slot & 3], sizeof(buf[0]), "%s/%s", w->dir, name);
    return buf[slot & 3];
}
