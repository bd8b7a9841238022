/*
 * cmp_oracle: a test-only program that holds CMP messages against OpenSSL's
 * own CMP implementation, the independent peer of pkie's CMP engine. It links
 * OSSL_CMP_*; the product never does (DESIGN.md).
 *
 *   cmp_oracle roundtrip FILE...
 *       d2i_OSSL_CMP_MSG, then i2d_OSSL_CMP_MSG must give the input bytes.
 *   cmp_oracle validate (--secret S | --trusted F [--untrusted F]... [--srvcert F])
 *                       [--allow-unprotected] [--ignore-keyusage] FILE...
 *       OSSL_CMP_validate_msg with a fresh server context for request bodies
 *       and a fresh client context for the others. S is pass:X, env:VAR or
 *       file:PATH as for openssl cmp.
 *   cmp_oracle info FILE...
 *       body type, pvno, names, protection algorithm (PasswordBasedMac
 *       parameters too), senderKID, transactionID, nonces, generalInfo and
 *       extraCerts, one "key: value" per line, for comparison with pkie's
 *       decoder.
 *
 * Each FILE is one DER PKIMessage. One line per file on stdout, "FILE: OK ..."
 * or "FILE: FAIL reason"; exit status 0 only when every file passed, 1 when
 * one failed, 2 on a usage error.
 */
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_SIZE   (16L * 1024 * 1024)
#define MAX_SECRET_SIZE 1024

/* PKIBody choice tags, RFC 4210 section 5.1.2 (and RFC 9810). */
static const char *const body_names[] = {
    "ir",     "ip",      "cr",     "cp",   "p10cr", "popdecc", "popdecr",  "kur",     "kup",
    "krr",    "krp",     "rr",     "rp",   "ccr",   "ccp",     "ckuann",   "cann",    "rann",
    "crlann", "pkiconf", "nested", "genm", "genp",  "error",   "certConf", "pollReq", "pollRep",
};
#define N_BODY_NAMES ((int)(sizeof(body_names) / sizeof(body_names[0])))

static const char *body_name(int type)
{
    return type >= 0 && type < N_BODY_NAMES ? body_names[type] : "unknown";
}

/* Request bodies are validated with a server context, the rest with a client one. */
static int body_is_request(int type)
{
    switch (type) {
    case 0:  /* ir */
    case 2:  /* cr */
    case 4:  /* p10cr */
    case 7:  /* kur */
    case 9:  /* krr */
    case 11: /* rr */
    case 13: /* ccr */
    case 21: /* genm */
    case 24: /* certConf */
    case 25: /* pollReq */
        return 1;
    default:
        return 0;
    }
}

/* OpenSSL's error queue on one line, then cleared. */
static void print_ossl_errors(FILE *out)
{
    unsigned long e;
    const char *data;
    int flags;
    int first = 1;
    char buf[256];

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(out, "%s%s", first ? "" : "; ", buf);
        if ((flags & ERR_TXT_STRING) && data != NULL && *data != '\0') {
            /* the detail may span lines (a certificate dump): keep one line */
            int space = 0;

            fputs(" (", out);
            for (const char *c = data; *c != '\0'; c++) {
                int blank = *c == ' ' || *c == '\n' || *c == '\t' || *c == '\r';

                if (blank && !space)
                    fputc(' ', out);
                else if (!blank)
                    fputc(*c, out);
                space = blank;
            }
            fputc(')', out);
        }
        first = 0;
    }
    if (first)
        fprintf(out, "no OpenSSL error recorded");
}

static unsigned char *read_file(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long size;

    if (f == NULL) {
        fprintf(stderr, "cmp_oracle: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > MAX_FILE_SIZE ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cmp_oracle: %s: unreadable or larger than %ld bytes\n", path,
                MAX_FILE_SIZE);
        goto err;
    }
    data = malloc(size > 0 ? (size_t)size : 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cmp_oracle: %s: read failed\n", path);
        free(data);
        data = NULL;
        goto err;
    }
    *len = size;
err:
    fclose(f);
    return data;
}

/* Decodes exactly one PKIMessage occupying the whole buffer. */
static OSSL_CMP_MSG *decode_msg(const unsigned char *der, long len, const char **why)
{
    const unsigned char *p = der;
    OSSL_CMP_MSG *msg = d2i_OSSL_CMP_MSG(NULL, &p, len);

    if (msg == NULL) {
        *why = "d2i_OSSL_CMP_MSG failed";
        return NULL;
    }
    if (p != der + len) {
        *why = "trailing bytes after the PKIMessage";
        OSSL_CMP_MSG_free(msg);
        return NULL;
    }
    return msg;
}

static int cmd_roundtrip(int argc, char **argv)
{
    int failed = 0;

    if (argc < 1) {
        fprintf(stderr, "usage: cmp_oracle roundtrip FILE...\n");
        return 2;
    }
    for (int i = 0; i < argc; i++) {
        long len = 0;
        unsigned char *der = read_file(argv[i], &len);
        unsigned char *out = NULL;
        const char *why = NULL;
        OSSL_CMP_MSG *msg = NULL;
        int outlen;

        if (der == NULL) {
            failed = 1;
            continue;
        }
        msg = decode_msg(der, len, &why);
        if (msg == NULL) {
            printf("%s: FAIL %s: ", argv[i], why);
            print_ossl_errors(stdout);
            printf("\n");
            failed = 1;
        } else if ((outlen = i2d_OSSL_CMP_MSG(msg, &out)) <= 0) {
            printf("%s: FAIL i2d_OSSL_CMP_MSG failed: ", argv[i]);
            print_ossl_errors(stdout);
            printf("\n");
            failed = 1;
        } else if (outlen != len || memcmp(out, der, (size_t)len) != 0) {
            long at = 0;

            while (at < len && at < outlen && out[at] == der[at])
                at++;
            printf("%s: FAIL re-encoding differs (%ld bytes in, %d out, first difference at "
                   "offset %ld)\n",
                   argv[i], len, outlen, at);
            failed = 1;
        } else {
            printf("%s: OK %s %ld bytes\n", argv[i], body_name(OSSL_CMP_MSG_get_bodytype(msg)),
                   len);
        }
        OPENSSL_free(out);
        OSSL_CMP_MSG_free(msg);
        free(der);
    }
    return failed;
}

/* ---- a small DER walk, independent of OpenSSL's CMP accessors ---- */

struct tlv {
    int tag, cls, constructed;
    const unsigned char *hdr;     /* start of the TLV */
    const unsigned char *content; /* start of the value */
    long len;                     /* value length */
    long total;                   /* TLV length */
};

/* Reads one TLV from [*p, end); advances *p past it. 0 ok, -1 malformed. */
static int next_tlv(const unsigned char **p, const unsigned char *end, struct tlv *t)
{
    const unsigned char *q = *p;
    long len;
    int tag, cls, r;

    if (q >= end)
        return -1;
    r = ASN1_get_object(&q, &len, &tag, &cls, end - *p);
    if (r & 0x80)
        return -1;
    t->tag = tag;
    t->cls = cls;
    t->constructed = (r & V_ASN1_CONSTRUCTED) != 0;
    t->hdr = *p;
    t->content = q;
    t->len = len;
    t->total = (q - *p) + len;
    *p = q + len;
    return 0;
}

/*
 * Appends the certificates of the message's extraCerts to sk, as OpenSSL's own
 * client and server do before validating (ossl_cmp_msg_check_update adds them
 * to the untrusted certificates). Returns the count, or -1 when malformed.
 */
static int add_extra_certs(const unsigned char *der, long len, STACK_OF(X509) *sk)
{
    const unsigned char *p = der, *end = der + len;
    struct tlv top, t, seq, c;
    int n = 0;

    if (next_tlv(&p, end, &top) != 0)
        return -1;
    p = top.content;
    end = top.content + top.len;
    /* header, body ([1] for ip!), then [0] protection, [1] extraCerts */
    for (int field = 0; p < end; field++) {
        if (next_tlv(&p, end, &t) != 0)
            return -1;
        if (field < 2 || t.cls != V_ASN1_CONTEXT_SPECIFIC || t.tag != 1)
            continue;
        const unsigned char *q = t.content, *qend = t.content + t.len;

        if (next_tlv(&q, qend, &seq) != 0)
            return -1;
        q = seq.content;
        qend = seq.content + seq.len;
        while (q < qend) {
            const unsigned char *r = q;
            X509 *x;

            if (next_tlv(&q, qend, &c) != 0 || (x = d2i_X509(NULL, &r, c.total)) == NULL)
                return -1;
            if (!sk_X509_push(sk, x)) {
                X509_free(x);
                return -1;
            }
            n++;
        }
    }
    return n;
}

/* pass:X, env:VAR or file:PATH (first line), as openssl's password sources. */
static char *get_secret(const char *src)
{
    char buf[MAX_SECRET_SIZE + 1];
    const char *v = NULL;
    char *dup;

    if (strncmp(src, "pass:", 5) == 0) {
        v = src + 5;
    } else if (strncmp(src, "env:", 4) == 0) {
        v = getenv(src + 4);
        if (v == NULL) {
            fprintf(stderr, "cmp_oracle: --secret: environment variable %s not set\n", src + 4);
            return NULL;
        }
    } else if (strncmp(src, "file:", 5) == 0) {
        FILE *f = fopen(src + 5, "r");

        if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
            fprintf(stderr, "cmp_oracle: --secret: cannot read %s\n", src + 5);
            if (f != NULL)
                fclose(f);
            return NULL;
        }
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        v = buf;
    } else {
        fprintf(stderr, "cmp_oracle: --secret: expected pass:, env: or file:, got '%s'\n", src);
        return NULL;
    }
    dup = OPENSSL_strdup(v);
    OPENSSL_cleanse(buf, sizeof(buf));
    return dup;
}

/* Every certificate in a PEM file (or one DER certificate) appended to sk. */
static int load_certs(const char *path, STACK_OF(X509) *sk)
{
    BIO *bio = BIO_new_file(path, "rb");
    X509 *x;
    int n = 0;

    if (bio == NULL) {
        fprintf(stderr, "cmp_oracle: cannot open %s\n", path);
        return -1;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            BIO_free(bio);
            return -1;
        }
        n++;
    }
    ERR_clear_error();
    if (n == 0 && BIO_reset(bio) == 0 && (x = d2i_X509_bio(bio, NULL)) != NULL) {
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            BIO_free(bio);
            return -1;
        }
        n++;
    }
    BIO_free(bio);
    if (n == 0) {
        fprintf(stderr, "cmp_oracle: no certificate in %s\n", path);
        ERR_clear_error();
        return -1;
    }
    return n;
}

struct validate_opts {
    char *secret;              /* MAC secret, or NULL */
    STACK_OF(X509) *trusted;   /* trust anchors, or NULL */
    STACK_OF(X509) *untrusted; /* intermediates */
    X509 *srvcert;             /* pinned signer, or NULL */
    int allow_unprotected;     /* an unprotected message passes as UNPROTECTED */
    int ignore_keyusage;       /* OSSL_CMP_OPT_IGNORE_KEYUSAGE */
};

/* OpenSSL's CMP log lines go to stderr (only at the verbosity set). */
static int log_cb(const char *func, const char *file, int line, OSSL_CMP_severity level,
                  const char *msg)
{
    (void)file;
    (void)line;
    fprintf(stderr, "cmp_oracle: [%d] %s: %s\n", (int)level, func != NULL ? func : "?", msg);
    return 1;
}

/* Validates one message with a fresh context; prints its line. 0 ok, 1 failed. */
static int validate_one(const struct validate_opts *o, const char *path)
{
    long len = 0;
    unsigned char *der = read_file(path, &len);
    const char *why = NULL;
    OSSL_CMP_MSG *msg = NULL;
    OSSL_CMP_SRV_CTX *srv = NULL;
    OSSL_CMP_CTX *cli = NULL, *ctx = NULL;
    X509_STORE *store = NULL;
    STACK_OF(X509) *untrusted = NULL;
    int type, rc = 1;

    if (der == NULL)
        return 1;
    msg = decode_msg(der, len, &why);
    if (msg == NULL) {
        printf("%s: FAIL %s: ", path, why);
        print_ossl_errors(stdout);
        printf("\n");
        goto err;
    }
    type = OSSL_CMP_MSG_get_bodytype(msg);
    if (body_is_request(type)) {
        if ((srv = OSSL_CMP_SRV_CTX_new(NULL, NULL)) == NULL)
            goto ossl_err;
        ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv);
    } else {
        if ((cli = OSSL_CMP_CTX_new(NULL, NULL)) == NULL)
            goto ossl_err;
        ctx = cli;
    }
    if (o->secret != NULL && !OSSL_CMP_CTX_set1_secretValue(ctx, (const unsigned char *)o->secret,
                                                            (int)strlen(o->secret)))
        goto ossl_err;
    if (o->trusted != NULL) {
        if ((store = X509_STORE_new()) == NULL)
            goto ossl_err;
        for (int i = 0; i < sk_X509_num(o->trusted); i++)
            if (!X509_STORE_add_cert(store, sk_X509_value(o->trusted, i)))
                goto ossl_err;
        if (!OSSL_CMP_CTX_set0_trustedStore(ctx, store))
            goto ossl_err;
        store = NULL;
    }
    /* The untrusted certificates given, plus the message's extraCerts. */
    if ((untrusted = sk_X509_new_null()) == NULL)
        goto ossl_err;
    for (int i = 0; o->untrusted != NULL && i < sk_X509_num(o->untrusted); i++) {
        X509 *x = sk_X509_value(o->untrusted, i);

        if (!sk_X509_push(untrusted, x))
            goto ossl_err;
        if (!X509_up_ref(x)) {
            (void)sk_X509_pop(untrusted); /* pushed but not referenced */
            goto ossl_err;
        }
    }
    if (add_extra_certs(der, len, untrusted) < 0) {
        printf("%s: FAIL undecodable extraCerts\n", path);
        goto err;
    }
    if (!OSSL_CMP_CTX_set1_untrusted(ctx, untrusted))
        goto ossl_err;
    if (o->srvcert != NULL && !OSSL_CMP_CTX_set1_srvCert(ctx, o->srvcert))
        goto ossl_err;
    if (o->ignore_keyusage && !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_IGNORE_KEYUSAGE, 1))
        goto ossl_err;
    /* Quiet unless CMP_ORACLE_DEBUG is set; errors are reported below. */
    if (!OSSL_CMP_CTX_set_log_cb(ctx, log_cb))
        goto ossl_err;
    (void)OSSL_CMP_CTX_set_log_verbosity(
        ctx, getenv("CMP_ORACLE_DEBUG") != NULL ? OSSL_CMP_LOG_DEBUG : OSSL_CMP_LOG_EMERG);

    if (OSSL_CMP_validate_msg(ctx, msg)) {
        printf("%s: OK %s\n", path, body_name(type));
        rc = 0;
    } else if (o->allow_unprotected &&
               ERR_GET_REASON(ERR_peek_last_error()) == CMP_R_MISSING_PROTECTION) {
        ERR_clear_error();
        printf("%s: OK %s UNPROTECTED\n", path, body_name(type));
        rc = 0;
    } else {
        printf("%s: FAIL %s: ", path, body_name(type));
        print_ossl_errors(stdout);
        printf("\n");
    }
    goto err;
ossl_err:
    printf("%s: FAIL setting up the context: ", path);
    print_ossl_errors(stdout);
    printf("\n");
err:
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_free(store);
    OSSL_CMP_CTX_free(cli);
    OSSL_CMP_SRV_CTX_free(srv);
    OSSL_CMP_MSG_free(msg);
    free(der);
    return rc;
}

static void validate_usage(void)
{
    fprintf(stderr, "usage: cmp_oracle validate (--secret S | --trusted F [--untrusted F]... "
                    "[--srvcert F]) [--allow-unprotected] [--ignore-keyusage] FILE...\n");
}

static int cmd_validate(int argc, char **argv)
{
    struct validate_opts o = {0};
    STACK_OF(X509) *pin = NULL;
    int i, failed = 0, rc = 2;

    for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *opt = argv[i];

        if (strcmp(opt, "--allow-unprotected") == 0) {
            o.allow_unprotected = 1;
            continue;
        }
        if (strcmp(opt, "--ignore-keyusage") == 0) {
            o.ignore_keyusage = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cmp_oracle: %s needs an argument\n", opt);
            goto err;
        }
        if (strcmp(opt, "--secret") == 0) {
            OPENSSL_clear_free(o.secret, o.secret != NULL ? strlen(o.secret) : 0);
            if ((o.secret = get_secret(argv[++i])) == NULL)
                goto err;
        } else if (strcmp(opt, "--trusted") == 0 || strcmp(opt, "--untrusted") == 0) {
            STACK_OF(X509) **sk = opt[2] == 't' ? &o.trusted : &o.untrusted;

            if (*sk == NULL && (*sk = sk_X509_new_null()) == NULL)
                goto err;
            if (load_certs(argv[++i], *sk) < 0)
                goto err;
        } else if (strcmp(opt, "--srvcert") == 0) {
            if (pin == NULL && (pin = sk_X509_new_null()) == NULL)
                goto err;
            if (load_certs(argv[++i], pin) != 1) {
                fprintf(stderr, "cmp_oracle: --srvcert needs exactly one certificate\n");
                goto err;
            }
            o.srvcert = sk_X509_value(pin, 0);
        } else {
            fprintf(stderr, "cmp_oracle: unknown option %s\n", opt);
            goto err;
        }
    }
    if (i >= argc || (o.secret == NULL && o.trusted == NULL && o.srvcert == NULL)) {
        validate_usage();
        goto err;
    }
    for (; i < argc; i++)
        failed |= validate_one(&o, argv[i]);
    rc = failed;
err:
    OPENSSL_clear_free(o.secret, o.secret != NULL ? strlen(o.secret) : 0);
    sk_X509_pop_free(o.trusted, X509_free);
    sk_X509_pop_free(o.untrusted, X509_free);
    sk_X509_pop_free(pin, X509_free);
    return rc;
}

static void print_hex(const char *key, const unsigned char *v, long len)
{
    printf("%s: ", key);
    for (long i = 0; i < len; i++)
        printf("%02x", v[i]);
    printf("\n");
}

static void print_oid_name(const ASN1_OBJECT *obj)
{
    char buf[128];

    OBJ_obj2txt(buf, sizeof(buf), obj, 0);
    printf("%s", buf);
}

/* GeneralName: a directoryName prints as a one-line DN, other forms by type. */
static void print_general_name(const char *key, const struct tlv *t)
{
    const unsigned char *p = t->hdr;
    GENERAL_NAME *gn = d2i_GENERAL_NAME(NULL, &p, t->total);

    printf("%s: ", key);
    if (gn == NULL) {
        printf("(undecodable)\n");
        ERR_clear_error();
        return;
    }
    if (gn->type == GEN_DIRNAME) {
        char *s = X509_NAME_oneline(gn->d.directoryName, NULL, 0);

        printf("%s\n", s != NULL && s[0] != '\0' ? s : "NULL-DN");
        OPENSSL_free(s);
    } else {
        printf("(GeneralName type %d)\n", gn->type);
    }
    GENERAL_NAME_free(gn);
}

/* AlgorithmIdentifier; PasswordBasedMac parameters decoded as RFC 4211 4.4. */
static void print_protection_alg(const struct tlv *t)
{
    const unsigned char *p = t->content;
    X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, t->len);
    const ASN1_OBJECT *oid;
    const void *pval;
    int ptype;

    printf("protectionAlg: ");
    if (alg == NULL) {
        printf("(undecodable)\n");
        ERR_clear_error();
        return;
    }
    X509_ALGOR_get0(&oid, &ptype, &pval, alg);
    print_oid_name(oid);
    printf("\n");
    if (OBJ_obj2nid(oid) == NID_id_PasswordBasedMAC && ptype == V_ASN1_SEQUENCE) {
        const ASN1_STRING *seq = pval;
        const unsigned char *q = ASN1_STRING_get0_data(seq);
        const unsigned char *end = q + ASN1_STRING_length(seq);
        struct tlv s, f;

        if (next_tlv(&q, end, &s) == 0 && s.tag == V_ASN1_SEQUENCE) {
            q = s.content;
            end = s.content + s.len;
            if (next_tlv(&q, end, &f) == 0 && f.tag == V_ASN1_OCTET_STRING)
                print_hex("pbm.salt", f.content, f.len);
            for (int i = 0; i < 3 && q < end; i++) {
                const unsigned char *r = q;

                if (next_tlv(&q, end, &f) != 0)
                    break;
                if (f.tag == V_ASN1_INTEGER) {
                    ASN1_INTEGER *n = d2i_ASN1_INTEGER(NULL, &r, f.total);

                    printf("pbm.iterationCount: %ld\n", n != NULL ? ASN1_INTEGER_get(n) : -1L);
                    ASN1_INTEGER_free(n);
                } else {
                    X509_ALGOR *a = d2i_X509_ALGOR(NULL, &r, f.total);

                    if (a != NULL) {
                        const ASN1_OBJECT *ao;

                        X509_ALGOR_get0(&ao, NULL, NULL, a);
                        printf("pbm.%s: ", i == 0 ? "owf" : "mac");
                        print_oid_name(ao);
                        printf("\n");
                        X509_ALGOR_free(a);
                    }
                }
            }
        }
    }
    X509_ALGOR_free(alg);
    ERR_clear_error();
}

/* generalInfo: SEQUENCE OF InfoTypeAndValue; prints the infoType OIDs. */
static void print_general_info(const struct tlv *t)
{
    const unsigned char *p = t->content, *end = t->content + t->len;
    struct tlv seq, itav, type;

    printf("generalInfo:");
    if (next_tlv(&p, end, &seq) == 0 && seq.tag == V_ASN1_SEQUENCE) {
        p = seq.content;
        end = seq.content + seq.len;
        while (p < end && next_tlv(&p, end, &itav) == 0) {
            const unsigned char *q = itav.content;

            if (next_tlv(&q, itav.content + itav.len, &type) == 0 && type.tag == V_ASN1_OBJECT) {
                const unsigned char *r = type.hdr;
                ASN1_OBJECT *obj = d2i_ASN1_OBJECT(NULL, &r, type.total);

                if (obj != NULL) {
                    printf(" ");
                    print_oid_name(obj);
                    ASN1_OBJECT_free(obj);
                }
            }
        }
    }
    printf("\n");
}

/* freeText: SEQUENCE OF UTF8String, printed as quoted strings. */
static void print_free_text(const struct tlv *t)
{
    const unsigned char *p = t->content, *end = t->content + t->len;
    struct tlv seq, str;

    printf("freeText:");
    if (next_tlv(&p, end, &seq) == 0 && seq.tag == V_ASN1_SEQUENCE) {
        p = seq.content;
        end = seq.content + seq.len;
        while (p < end && next_tlv(&p, end, &str) == 0)
            printf(" \"%.*s\"", (int)str.len, (const char *)str.content);
    }
    printf("\n");
}

static void print_header(const struct tlv *hdr)
{
    const unsigned char *p = hdr->content, *end = hdr->content + hdr->len;
    static const char *const explicit_names[] = {
        "messageTime", "protectionAlg", "senderKID", "recipKID",    "transactionID",
        "senderNonce", "recipNonce",    "freeText",  "generalInfo",
    };
    struct tlv t;
    int field = 0;

    while (p < end && next_tlv(&p, end, &t) == 0) {
        if (field == 0 && t.tag == V_ASN1_INTEGER && t.cls == V_ASN1_UNIVERSAL) {
            const unsigned char *r = t.hdr;
            ASN1_INTEGER *n = d2i_ASN1_INTEGER(NULL, &r, t.total);

            printf("pvno: %ld\n", n != NULL ? ASN1_INTEGER_get(n) : -1L);
            ASN1_INTEGER_free(n);
        } else if (field == 1 || field == 2) {
            print_general_name(field == 1 ? "sender" : "recipient", &t);
        } else if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag >= 0 && t.tag <= 8) {
            const unsigned char *q = t.content;
            struct tlv in;

            if (t.tag == 1) {
                print_protection_alg(&t);
            } else if (t.tag == 8) {
                print_general_info(&t);
            } else if (t.tag == 7) {
                print_free_text(&t);
            } else if (next_tlv(&q, t.content + t.len, &in) == 0) {
                if (t.tag == 0)
                    printf("messageTime: %.*s\n", (int)in.len, (const char *)in.content);
                else
                    print_hex(explicit_names[t.tag], in.content, in.len);
            }
        }
        field++;
    }
}

static int info_one(const char *path)
{
    long len = 0;
    unsigned char *der = read_file(path, &len);
    const unsigned char *p, *end;
    const char *why = NULL;
    OSSL_CMP_MSG *msg;
    struct tlv top, hdr, body, t;

    if (der == NULL)
        return 1;
    msg = decode_msg(der, len, &why);
    if (msg == NULL) {
        printf("%s: FAIL %s: ", path, why);
        print_ossl_errors(stdout);
        printf("\n");
        free(der);
        return 1;
    }
    printf("file: %s\n", path);
    printf("body: %s\n", body_name(OSSL_CMP_MSG_get_bodytype(msg)));
    p = der;
    end = der + len;
    if (next_tlv(&p, end, &top) == 0) {
        p = top.content;
        end = top.content + top.len;
        if (next_tlv(&p, end, &hdr) == 0)
            print_header(&hdr);
        if (next_tlv(&p, end, &body) == 0)
            printf("bodyLength: %ld\n", body.total);
        while (p < end && next_tlv(&p, end, &t) == 0) {
            if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 0) {
                printf("protectionLength: %ld\n", t.len > 0 ? t.len - 1 : 0L);
            } else if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 1) {
                const unsigned char *q = t.content, *qend = t.content + t.len;
                struct tlv seq, c;
                int n = 0;

                if (next_tlv(&q, qend, &seq) == 0) {
                    q = seq.content;
                    qend = seq.content + seq.len;
                    while (q < qend && next_tlv(&q, qend, &c) == 0) {
                        const unsigned char *r = c.hdr;
                        X509 *x = d2i_X509(NULL, &r, c.total);
                        char *s =
                            x != NULL ? X509_NAME_oneline(X509_get_subject_name(x), NULL, 0) : NULL;

                        printf("extraCerts[%d]: %s\n", n++, s != NULL ? s : "(undecodable)");
                        OPENSSL_free(s);
                        X509_free(x);
                    }
                }
                printf("extraCerts: %d\n", n);
            }
        }
    }
    printf("\n");
    ERR_clear_error();
    OSSL_CMP_MSG_free(msg);
    free(der);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    int failed = 0;

    if (argc < 1) {
        fprintf(stderr, "usage: cmp_oracle info FILE...\n");
        return 2;
    }
    for (int i = 0; i < argc; i++)
        failed |= info_one(argv[i]);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "roundtrip") == 0)
        return cmd_roundtrip(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "validate") == 0)
        return cmd_validate(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "info") == 0)
        return cmd_info(argc - 2, argv + 2);
    fprintf(stderr, "usage: cmp_oracle roundtrip|validate|info ... (see the source header)\n");
    return 2;
}
