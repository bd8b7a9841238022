/*
 * The CMP exit's identity file and its coordination between processes:
 * identity.pem (key then chain, written atomically, 0600), its stamp (device,
 * inode, size, mtime: a change on disk is seen by a stat), the advisory lock
 * (flock on identity.lock) that first enrollment and renewal hold, and the
 * checks before adopting an identity another process wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cmpx_state.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

/* first line of identity.pem (PEM readers skip text before BEGIN) */
#define POLICY_HEADER "# pkie cmp exit, renewal policy: "

time_t cmpx_asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return timegm(&tm);
}

void cmpx_ident_free(struct cmpx_ident *id)
{
    while (id != NULL) {
        struct cmpx_ident *o = id->older;
        EVP_PKEY_free(id->key);
        X509_free(id->leaf);
        sk_X509_pop_free(id->chain, X509_free);
        free(id->der);
        free(id);
        id = o;
    }
}

struct cmpx_ident *cmpx_ident_new(EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *chain)
{
    struct cmpx_ident *id = calloc(1, sizeof(*id));
    if (id == NULL)
        return NULL;
    X509 *certs[CFTPKIE_CHAIN_MAX];
    uint32_t n = 0;
    certs[n++] = leaf;
    /* served: the CA certificates that are not self-signed (the peer has the root) */
    for (int i = 0; chain != NULL && i < sk_X509_num(chain) && n < CFTPKIE_CHAIN_MAX; i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_cmp(c, leaf) == 0 || X509_check_issued(c, c) == X509_V_OK)
            continue;
        certs[n++] = c;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        int l = i2d_X509(certs[i], NULL);
        if (l <= 0)
            goto err;
        id->lens[i] = (uint32_t)l;
        total += (size_t)l;
    }
    if (total > CFTPKIE_CHAIN_CAP)
        goto err;
    id->der = malloc(total);
    id->chain = chain != NULL ? X509_chain_up_ref(chain) : sk_X509_new_null();
    if (id->der == NULL || id->chain == NULL)
        goto err;
    uint8_t *p = id->der;
    for (uint32_t i = 0; i < n; i++)
        i2d_X509(certs[i], &p);
    id->der_len = total;
    id->count = n;
    id->key = key;
    EVP_PKEY_up_ref(key);
    id->leaf = leaf;
    X509_up_ref(leaf);
    id->not_before = cmpx_asn1_time(X509_get0_notBefore(leaf));
    id->not_after = cmpx_asn1_time(X509_get0_notAfter(leaf));
    return id;
err:
    sk_X509_pop_free(id->chain, X509_free);
    free(id->der);
    free(id);
    return NULL;
}

static void stamp_from(const struct stat *st, struct cmpx_stamp *s)
{
    memset(s, 0, sizeof(*s));
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
    s->present = 1;
}

int cmpx_stamp_of(const char *dir, struct cmpx_stamp *s)
{
    char path[PATH_MAX];
    int rc = cmpx_path(path, sizeof(path), dir, CMPX_IDENT_FILE);
    if (rc != 0)
        return rc;
    struct stat st;
    if (lstat(path, &st) != 0) {
        memset(s, 0, sizeof(*s));
        if (errno == ENOENT)
            return 0;
        return PKIE_ERR(PKIE_ERR_IO, "stat %s: %s", path, strerror(errno));
    }
    stamp_from(&st, s);
    return 0;
}

int cmpx_stamp_eq(const struct cmpx_stamp *a, const struct cmpx_stamp *b)
{
    return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

int cmpx_lock_take(const char *dir)
{
    char path[PATH_MAX];
    int rc = cmpx_path(path, sizeof(path), dir, CMPX_LOCK_FILE);
    if (rc != 0)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return PKIE_ERR(PKIE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        rc = PKIE_ERR(PKIE_ERR_IO, "flock %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    return fd;
}

void cmpx_lock_release(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

int cmpx_ident_save(const char *dir, const struct cmpx_ident *id, struct cmpx_stamp *st)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = 0;
    if (b == NULL ||
        (id->policy[0] != '\0' && BIO_printf(b, "%s%s\n", POLICY_HEADER, id->policy) <= 0) ||
        !PEM_write_bio_PrivateKey(b, id->key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(b, id->leaf))
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encoding the identity");
    for (int i = 0; rc == 0 && i < sk_X509_num(id->chain); i++) {
        X509 *c = sk_X509_value(id->chain, i);
        if (X509_cmp(c, id->leaf) != 0 && !PEM_write_bio_X509(b, c))
            rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encoding the chain");
    }
    if (rc == 0)
        rc = cmpx_write_bio(dir, CMPX_IDENT_FILE, b);
    if (b != NULL) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        if (n > 0)
            pkie_wipe(data, (size_t)n);
    }
    BIO_free(b);
    if (rc == 0 && st != NULL)
        rc = cmpx_stamp_of(dir, st);
    return rc;
}

int cmpx_ident_read(const char *dir, struct cmpx_ident **out, struct cmpx_stamp *st)
{
    char path[PATH_MAX];
    *out = NULL;
    int rc = cmpx_path(path, sizeof(path), dir, CMPX_IDENT_FILE);
    if (rc != 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            if (st != NULL)
                memset(st, 0, sizeof(*st));
            return 1;
        }
        return PKIE_ERR(PKIE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return PKIE_ERR(PKIE_ERR_IO, "%s is not a regular file", path);
    }
    if (st != NULL) /* the stamp of the file read, not of a later one */
        stamp_from(&sb, st);
    if (sb.st_size > CMPX_IDENT_FILE_MAX) {
        close(fd);
        return PKIE_ERR(PKIE_ERR_LIMIT, "%s: larger than %d bytes", path, CMPX_IDENT_FILE_MAX);
    }
    size_t cap = (size_t)sb.st_size, len = 0;
    char *text = malloc(cap + 1);
    while (text != NULL && len < cap) {
        ssize_t r = read(fd, text + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (text == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "identity");
    text[len] = '\0';
    char policy[CMPX_POLICY_MAX] = "";
    size_t hl = strlen(POLICY_HEADER);
    if (strncmp(text, POLICY_HEADER, hl) == 0) {
        size_t n = strcspn(text + hl, "\n");
        if (n < sizeof(policy)) {
            memcpy(policy, text + hl, n);
            policy[n] = '\0';
        }
    }
    BIO *b = BIO_new_mem_buf(text, (int)len);
    if (b == NULL) {
        pkie_wipe(text, len);
        free(text);
        return PKIE_ERR_OSSL(PKIE_ERR_NOMEM, "BIO");
    }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (sk != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x))
            X509_free(x);
    ERR_clear_error();
    BIO_free(b);
    pkie_wipe(text, len);
    free(text);
    if (key == NULL)
        rc = PKIE_ERR(PKIE_ERR_CRYPTO, "%s: no private key", path);
    else if (sk == NULL || sk_X509_num(sk) == 0)
        rc = PKIE_ERR(PKIE_ERR_CRYPTO, "%s: no certificate", path);
    else if (X509_check_private_key(sk_X509_value(sk, 0), key) != 1)
        rc = PKIE_ERR(PKIE_ERR_CRYPTO, "%s: the key does not match the certificate", path);
    else if ((*out = cmpx_ident_new(key, sk_X509_value(sk, 0), sk)) == NULL)
        rc = PKIE_ERR(PKIE_ERR_NOMEM, "identity");
    else
        memcpy((*out)->policy, policy, sizeof(policy));
    EVP_PKEY_free(key);
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return rc;
}

int cmpx_ident_adoptable(const struct cmpx_ident *cand, const struct cmpx_ident *cur,
                         X509_STORE *anchors, STACK_OF(X509) *cas, time_t now)
{
    if (cur != NULL && X509_cmp(cand->leaf, cur->leaf) == 0)
        return PKIE_ERR(PKIE_ERR_STATE, "the certificate on disk is the current one");
    if (cur != NULL &&
        X509_NAME_cmp(X509_get_subject_name(cand->leaf), X509_get_subject_name(cur->leaf)) != 0)
        return PKIE_ERR(PKIE_ERR_STATE, "the certificate on disk has another subject");
    if (cur != NULL && cand->not_before < cur->not_before)
        return PKIE_ERR(PKIE_ERR_STATE, "the certificate on disk is older than the current one");
    if (now >= cand->not_after)
        return PKIE_ERR(PKIE_ERR_STATE, "the certificate on disk has expired");
    /* it chains to the trust anchor (through its own chain and the CA certificates) */
    STACK_OF(X509) *untrusted = sk_X509_dup(cand->chain);
    for (int i = 0; untrusted != NULL && cas != NULL && i < sk_X509_num(cas); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(cas, i)))
            break;
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    int ok = untrusted != NULL && xs != NULL &&
             X509_STORE_CTX_init(xs, anchors, cand->leaf, untrusted) == 1;
    int err = X509_V_ERR_OUT_OF_MEM;
    if (ok) {
        X509_STORE_CTX_set_time(xs, 0, now);
        ok = X509_verify_cert(xs) == 1;
        err = X509_STORE_CTX_get_error(xs);
    }
    X509_STORE_CTX_free(xs);
    sk_X509_free(untrusted);
    ERR_clear_error();
    if (!ok)
        return PKIE_ERR(PKIE_ERR_CRYPTO, "the certificate on disk does not verify: %s",
                        X509_verify_cert_error_string(err));
    return 0;
}
