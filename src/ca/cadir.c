/* CA directory: creation (keys, root, intermediate, CMP signer) and opening. */
#include "ca_internal.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY 86400

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? 0 : PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "extension %s=%s", OBJ_nid2sn(nid), value);
}

static const EVP_MD *md_for(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
        return NULL;
    return (id == EVP_PKEY_EC && EVP_PKEY_get_bits(k) >= 384) ? EVP_sha384() : EVP_sha256();
}

/* OIDs of the extended key usages of the CA's end-entity credentials. */
#define EKU_CMC_CA "1.3.6.1.5.5.7.3.27" /* id-kp-cmcCA (RFC 6402): protects CMP responses */
#define EKU_CM_KGA "1.3.6.1.5.5.7.3.32" /* id-kp-cmKGA (RFC 9480): signs central keys */

/* A certificate for @p key named @p subject, signed by @p issuer (NULL: self-signed);
 * end-entity certificates (!ca) get extendedKeyUsage @p eku. */
static X509 *make_cert(const X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
                       int64_t days, int ca, int pathlen, const char *eku)
{
    X509 *x = X509_new();
    ASN1_INTEGER *serial = pkie_ca_serial_new();
    X509V3_CTX ctx;
    char bc[64];
    time_t now = (time_t)pkie_ca_now();
    if (x == NULL || serial == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_serialNumber(x, serial) != 1 || X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : subject) != 1 ||
        X509_set_pubkey(x, key) != 1 || ASN1_TIME_set(X509_getm_notBefore(x), now) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), now + (time_t)(days * DAY)) == NULL)
        goto err;
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    if (ca && pathlen >= 0)
        snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", pathlen);
    else
        snprintf(bc, sizeof(bc), ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (add_ext(x, &ctx, NID_basic_constraints, bc) != 0 ||
        add_ext(x, &ctx, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                   : "critical,digitalSignature") != 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
        goto quiet;
    if (!ca && eku != NULL && add_ext(x, &ctx, NID_ext_key_usage, eku) != 0)
        goto quiet;
    if (X509_sign(x, ikey, md_for(ikey)) <= 0)
        goto err;
    ASN1_INTEGER_free(serial);
    return x;
err:
    PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "cannot build a CA certificate");
quiet:
    ASN1_INTEGER_free(serial);
    X509_free(x);
    return NULL;
}

/* @p base with its last CN suffixed by @p suffix (or a CN added). */
static X509_NAME *derived_name(const X509_NAME *base, const char *suffix)
{
    X509_NAME *n = X509_NAME_dup(base);
    char cn[256] = "pkie";
    if (n == NULL)
        return NULL;
    int idx = X509_NAME_get_index_by_NID(n, NID_commonName, -1), last = -1;
    while (idx >= 0) {
        last = idx;
        idx = X509_NAME_get_index_by_NID(n, NID_commonName, idx);
    }
    if (last >= 0) {
        unsigned char *u = NULL;
        int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, last)));
        if (l > 0 && l < 200)
            snprintf(cn, sizeof(cn), "%.*s", l, (const char *)u);
        OPENSSL_free(u);
        X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, last));
    }
    strncat(cn, suffix, sizeof(cn) - strlen(cn) - 1);
    if (X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (unsigned char *)cn, -1, last,
                                   0) != 1) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

static int write_pem_file(const char *dir, const char *name, X509 *const *certs, int n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return PKIE_ERR(PKIE_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return PKIE_ERR(PKIE_ERR_IO, "cannot write %s", path);
    }
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok = ok && PEM_write_X509(f, certs[i]) == 1;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : PKIE_ERR(PKIE_ERR_IO, "cannot write %s", path);
}

static int store_ca(struct pkie_ca_store *s, const char *name, X509 *cert, EVP_PKEY *key,
                    const char *pass)
{
    unsigned char *der = NULL;
    char *pem = NULL;
    int len = i2d_X509(cert, &der);
    int rc;
    if (len <= 0)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encode certificate");
    if (key != NULL && (pem = pkie_ca_key_encrypt(key, pass)) == NULL)
        rc = pkie_err_last()->code;
    else
        rc = pkie_ca_store_put_ca(s, name, der, (size_t)len, pem);
    OPENSSL_free(der);
    pkie_wipe_free_str(pem);
    return rc;
}

/* 1 when DIR/NAME exists. */
static int stat_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* A shared database may already hold a CA: never overwrite its keys. */
static int store_empty(struct pkie_ca_store *s)
{
    X509 *x = NULL;
    int rc = pkie_ca_store_get_ca(s, PKIE_CA_ROOT, NULL, &x, NULL);
    X509_free(x);
    if (rc == 0)
        return PKIE_ERR(PKIE_ERR_EXISTS, "the database already holds a CA");
    pkie_err_clear();
    return rc == PKIE_ERR_CA_NOT_INIT ? 0 : rc;
}

int pkie_ca_dir_init(const struct pkie_ca_init_params *p)
{
    char path[4096];
    struct pkie_ca_store *s = NULL;
    EVP_PKEY *rkey = NULL, *ikey = NULL, *skey = NULL;
    X509 *root = NULL, *inter = NULL, *signer = NULL;
    X509_NAME *rname = NULL, *iname = NULL, *sname = NULL;
    struct stat stt;
    int rc;
    if (p->dir == NULL || p->subject == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "--dir and --subject are required");
    if (p->pass == NULL || p->pass[0] == '\0')
        return PKIE_ERR(PKIE_ERR_CA_NO_PASSWORD, "a passphrase is required");
    rname = pkie_ca_name_parse(p->subject);
    if (rname == NULL)
        return pkie_err_last()->code;
    mode_t old = umask(077);
    if (mkdir(p->dir, 0700) != 0 && errno != EEXIST) {
        rc = PKIE_ERR(PKIE_ERR_IO, "cannot create %s: %s", p->dir, strerror(errno));
        goto out;
    }
    if (stat(p->dir, &stt) != 0 || !S_ISDIR(stt.st_mode) || chmod(p->dir, 0700) != 0) {
        rc = PKIE_ERR(PKIE_ERR_IO, "%s is not a usable directory", p->dir);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/ca.db", p->dir);
    if (access(path, F_OK) == 0 || stat_file(p->dir, "root.crt")) {
        rc = PKIE_ERR(PKIE_ERR_EXISTS, "%s already holds a CA", p->dir);
        goto out;
    }
    const char *kt = p->key_type != NULL ? p->key_type : "ec:P-256";
    int64_t days = p->root_days > 0 ? p->root_days : 3650;
    rkey = pkie_ca_key_generate(kt);
    root = rkey != NULL ? make_cert(rname, rkey, NULL, rkey, days, 1, p->intermediate ? 1 : 0, NULL)
                        : NULL;
    if (root == NULL) {
        rc = pkie_err_last()->code;
        goto out;
    }
    X509 *issuer = root;
    EVP_PKEY *issuer_key = rkey;
    if (p->intermediate) {
        iname = derived_name(rname, " Issuing CA");
        ikey = iname != NULL ? pkie_ca_key_generate(kt) : NULL;
        inter = ikey != NULL ? make_cert(iname, ikey, root, rkey, days - 1, 1, 0, NULL) : NULL;
        if (inter == NULL) {
            rc = pkie_err_last()->code != 0 ? pkie_err_last()->code : PKIE_ERR_CRYPTO;
            goto out;
        }
        issuer = inter;
        issuer_key = ikey;
    }
    sname = derived_name(X509_get_subject_name(issuer), " CMP Signer");
    skey = sname != NULL ? pkie_ca_key_generate(kt) : NULL;
    signer = skey != NULL ? make_cert(sname, skey, issuer, issuer_key, days - 2, 0, -1, EKU_CMC_CA)
                          : NULL;
    if (signer == NULL) {
        rc = pkie_err_last()->code != 0 ? pkie_err_last()->code : PKIE_ERR_CRYPTO;
        goto out;
    }
    /* the store is touched only once every key and certificate is made */
    if ((rc = pkie_ca_store_open(p->db != NULL ? p->db : path, 1, &s)) != 0)
        goto out;
    if ((rc = store_empty(s)) != 0 || (rc = pkie_ca_store_unlock(s, p->pass)) != 0)
        goto out;
    if ((rc = store_ca(s, PKIE_CA_ROOT, root, rkey, p->pass)) != 0 ||
        (rc = store_ca(s, PKIE_CA_ISSUER, issuer, issuer_key, p->pass)) != 0 ||
        (rc = store_ca(s, PKIE_CA_SIGNER, signer, skey, p->pass)) != 0 ||
        (rc = pkie_ca_store_cert_insert(s, signer, PKIE_CA_CERT_CONFIRMED, "", 0, 0, 0)) != 0)
        goto out;
    X509 *kga = NULL;
    EVP_PKEY *kga_key = NULL;
    rc = pkie_ca_kga_ensure(s, p->pass, issuer, issuer_key, &kga, &kga_key);
    X509_free(kga);
    EVP_PKEY_free(kga_key);
    if (rc != 0)
        goto out;
    X509 *chain[3] = {signer, issuer, root};
    if ((rc = write_pem_file(p->dir, "root.crt", &root, 1)) != 0 ||
        (rc = write_pem_file(p->dir, "issuer.crt", &issuer, 1)) != 0 ||
        (rc = write_pem_file(p->dir, "signer.crt", chain, inter != NULL ? 3 : 2)) != 0)
        goto out;
out:
    umask(old);
    pkie_ca_store_close(s);
    EVP_PKEY_free(rkey);
    EVP_PKEY_free(ikey);
    EVP_PKEY_free(skey);
    X509_free(root);
    X509_free(inter);
    X509_free(signer);
    X509_NAME_free(rname);
    X509_NAME_free(iname);
    X509_NAME_free(sname);
    return rc;
}

int pkie_ca_kga_ensure(struct pkie_ca_store *s, const char *pass, X509 *issuer,
                       EVP_PKEY *issuer_key, X509 **cert, EVP_PKEY **key)
{
    *cert = NULL;
    *key = NULL;
    if (pkie_ca_store_get_ca(s, PKIE_CA_KGA, pass, cert, key) == 0)
        return 0;
    if (pkie_err_last()->code != PKIE_ERR_CA_NOT_INIT)
        return pkie_err_last()->code;
    pkie_err_clear();
    /* A CA directory made before central key generation: its KGA is made now, with the
     * issuing CA's key type and a validity ending with the issuer's. */
    int64_t days = (pkie_ca_asn1_time_secs(X509_get0_notAfter(issuer)) - pkie_ca_now()) / DAY;
    X509_NAME *name = derived_name(X509_get_subject_name(issuer), " Key Generation Authority");
    int id = EVP_PKEY_get_base_id(issuer_key);
    const char *kt = id == EVP_PKEY_ED25519                                      ? "ed25519"
                     : id == EVP_PKEY_RSA                                        ? "rsa:3072"
                     : id == EVP_PKEY_EC && EVP_PKEY_get_bits(issuer_key) >= 384 ? "ec:P-384"
                                                                                 : "ec:P-256";
    EVP_PKEY *k = name != NULL && days > 1 ? pkie_ca_key_generate(kt) : NULL;
    X509 *x =
        k != NULL ? make_cert(name, k, issuer, issuer_key, days - 1, 0, -1, EKU_CM_KGA) : NULL;
    X509_NAME_free(name);
    int rc = x == NULL ? (pkie_err_last()->code != 0 ? pkie_err_last()->code : PKIE_ERR_CRYPTO) : 0;
    if (rc == 0 && (rc = store_ca(s, PKIE_CA_KGA, x, k, pass)) == 0 &&
        (rc = pkie_ca_store_cert_insert(s, x, PKIE_CA_CERT_CONFIRMED, "", 0, 0, 0)) == 0) {
        *cert = x;
        *key = k;
        return 0;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int pkie_ca_dir_open(const char *dir, const char *pass, struct pkie_ca_store **out)
{
    return pkie_ca_dir_open_db(dir, NULL, pass, out);
}

int pkie_ca_dir_open_db(const char *dir, const char *db, const char *pass,
                        struct pkie_ca_store **out)
{
    char path[4096];
    *out = NULL;
    snprintf(path, sizeof(path), "%s/ca.db", dir);
    if (db == NULL && access(path, F_OK) != 0)
        return PKIE_ERR(PKIE_ERR_CA_NOT_INIT,
                        "%s is not a CA directory (no ca.db; run pkie ca init)", dir);
    if (db != NULL && !stat_file(dir, "root.crt"))
        return PKIE_ERR(PKIE_ERR_CA_NOT_INIT,
                        "%s is not a CA directory (no root.crt; copy it from the first node)", dir);
    mode_t old = umask(077);
    int rc = pkie_ca_store_open(db != NULL ? db : path, 0, out);
    umask(old);
    if (rc == 0 && pass != NULL && (rc = pkie_ca_store_unlock(*out, pass)) != 0) {
        pkie_ca_store_close(*out);
        *out = NULL;
    }
    return rc;
}
