/*
 * bench_cmp_codec (issue 3): pkie's CMP message layer against OpenSSL's own
 * CMP code, in one binary and one run (see bench/README.md).
 *
 *   bench_cmp_codec [DATA_DIR]      DATA_DIR defaults to tests/data/cmp
 *
 * Fixtures (captured from OpenSSL 3.0 by tests/interop/lib/capture.sh):
 *   ir_mac.req1.der     (a) an IR with PasswordBasedMac protection (secret "test")
 *   ip_chain.rsp1.der   (b) an IP signed with ECDSA P-256, extraCerts = signer,
 *                           intermediate, root (3 certificates)
 * Figures, each the median of ROUNDS rounds (env PKIE_BENCH_ROUNDS, default 15)
 * in which ours and the baseline run back to back (alternating which goes
 * first), each for about PKIE_BENCH_SECONDS (default 0.1 s); the ratio is
 * the median of the per-round ratios ours/baseline:
 *   decode + structure validation + re-encode, messages per second:
 *     ours = pkie_cmp_msg_decode + pkie_cmp_msg_encode,
 *     baseline = d2i_OSSL_CMP_MSG + i2d_OSSL_CMP_MSG; target ratio >= 5x.
 *   protection verification, microseconds per message:
 *     ours = pkie_cmp_verify_mac / pkie_cmp_verify_sig on a decoded message,
 *     baseline = the bare computation with libcrypto on pre-extracted bytes
 *     (PBM key derivation + HMAC + compare; EVP_DigestVerify of the
 *     ProtectedPart); target ratio <= 1.10.
 * Output: RESULT lines as bench/README.md says; exit 1 when a fixture does
 * not decode, round-trip or verify on either side.
 */
#include <openssl/cmp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PKIE_BENCH_HAVE_CMP
#include "pkie/cmp_msg.h"
#endif

#define MAX_FIXTURE (1L << 20)

struct fixture {
    const char *name;
    unsigned char *der;
    long len;
    /* pre-extracted for the bare baselines */
    const unsigned char *pp; /* ProtectedPart = SEQUENCE { header, body }, built below */
    unsigned char *pp_buf;
    long pp_len;
    const unsigned char *prot; /* protection BIT STRING value (after the unused-bits octet) */
    long prot_len;
    const unsigned char *palg; /* protectionAlg AlgorithmIdentifier TLV */
    long palg_len;
    const unsigned char *cert0; /* extraCerts[0] TLV */
    long cert0_len;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_cmp_codec: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static unsigned char *read_file(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p;
    long n;

    if (f == NULL)
        return NULL;
    p = malloc(MAX_FIXTURE);
    n = p != NULL ? (long)fread(p, 1, MAX_FIXTURE, f) : -1;
    fclose(f);
    if (n <= 0 || n >= MAX_FIXTURE) {
        free(p);
        return NULL;
    }
    *len = n;
    return p;
}

/* ---- a minimal TLV walk to pre-extract the parts the bare baselines need ---- */

struct tlv {
    int tag, cls;
    const unsigned char *hdr, *content;
    long len, total;
};

static int next_tlv(const unsigned char **p, const unsigned char *end, struct tlv *t)
{
    const unsigned char *q = *p;
    long len;
    int tag, cls;

    if (q >= end || (ASN1_get_object(&q, &len, &tag, &cls, end - q) & 0x80))
        return -1;
    t->tag = tag;
    t->cls = cls;
    t->hdr = *p;
    t->content = q;
    t->len = len;
    t->total = (q - *p) + len;
    *p = q + len;
    return 0;
}

static void extract(struct fixture *fx)
{
    const unsigned char *p = fx->der, *end = fx->der + fx->len;
    struct tlv top, hdr, body, t;
    unsigned char *w;
    long inner;
    int hl;

    if (next_tlv(&p, end, &top) != 0)
        die("fixture: not a SEQUENCE");
    p = top.content;
    end = top.content + top.len;
    if (next_tlv(&p, end, &hdr) != 0 || next_tlv(&p, end, &body) != 0)
        die("fixture: no header/body");
    for (int field = 2; p < end; field++) {
        if (next_tlv(&p, end, &t) != 0)
            die("fixture: bad trailer");
        if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 0) {
            struct tlv bs;
            const unsigned char *q = t.content;

            if (next_tlv(&q, t.content + t.len, &bs) != 0 || bs.len < 2 || bs.content[0] != 0)
                die("fixture: bad protection");
            fx->prot = bs.content + 1;
            fx->prot_len = bs.len - 1;
        } else if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 1) {
            struct tlv seq, c;
            const unsigned char *q = t.content;

            if (next_tlv(&q, t.content + t.len, &seq) != 0)
                die("fixture: bad extraCerts");
            q = seq.content;
            if (next_tlv(&q, seq.content + seq.len, &c) != 0)
                die("fixture: bad extraCerts[0]");
            fx->cert0 = c.hdr;
            fx->cert0_len = c.total;
        }
    }
    /* protectionAlg: header field [1] */
    p = hdr.content;
    end = hdr.content + hdr.len;
    while (p < end && next_tlv(&p, end, &t) == 0) {
        if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 1) {
            fx->palg = t.content;
            fx->palg_len = t.len;
        }
    }
    if (fx->prot == NULL || fx->palg == NULL)
        die("fixture: not protected");
    /* ProtectedPart ::= SEQUENCE { header, body } */
    inner = hdr.total + body.total;
    hl = ASN1_object_size(1, (int)inner, V_ASN1_SEQUENCE);
    if (hl <= 0 || (fx->pp_buf = malloc((size_t)hl)) == NULL)
        die("out of memory");
    w = fx->pp_buf;
    ASN1_put_object(&w, 1, (int)inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(w, hdr.hdr, (size_t)hdr.total);
    memcpy(w + hdr.total, body.hdr, (size_t)body.total);
    fx->pp = fx->pp_buf;
    fx->pp_len = hl;
}

static void load(struct fixture *fx, const char *dir, const char *name)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fx->name = name;
    fx->der = read_file(path, &fx->len);
    if (fx->der == NULL) {
        fprintf(stderr, "bench_cmp_codec: cannot read %s\n", path);
        exit(1);
    }
    extract(fx);
}

/* ---- the operations ---- */

typedef int (*op_fn)(void *arg);

static int ossl_codec(void *arg)
{
    const struct fixture *fx = arg;
    const unsigned char *p = fx->der;
    unsigned char *out = NULL;
    OSSL_CMP_MSG *m = d2i_OSSL_CMP_MSG(NULL, &p, fx->len);
    int n = m != NULL ? i2d_OSSL_CMP_MSG(m, &out) : -1;
    int ok = n == fx->len;

    OPENSSL_free(out);
    OSSL_CMP_MSG_free(m);
    return ok ? 0 : -1;
}

/* Once, untimed: the re-encoding is byte-identical. */
static int ossl_identical(const struct fixture *fx)
{
    const unsigned char *p = fx->der;
    unsigned char *out = NULL;
    OSSL_CMP_MSG *m = d2i_OSSL_CMP_MSG(NULL, &p, fx->len);
    int n = m != NULL ? i2d_OSSL_CMP_MSG(m, &out) : -1;
    int ok = n == fx->len && memcmp(out, fx->der, (size_t)n) == 0;

    OPENSSL_free(out);
    OSSL_CMP_MSG_free(m);
    return ok ? 0 : -1;
}

/* PasswordBasedMac parameters, parsed once for the bare baseline. */
struct pbm {
    const struct fixture *fx;
    const unsigned char *salt;
    long salt_len;
    const EVP_MD *owf, *mac;
    long iter;
    EVP_MD_CTX *ctx;
};

static const EVP_MD *md_of_algor(const unsigned char *tlv, long len, int hmac)
{
    X509_ALGOR *a = d2i_X509_ALGOR(NULL, &tlv, len);
    const ASN1_OBJECT *o;
    const EVP_MD *md = NULL;
    int nid, md_nid;

    if (a == NULL)
        return NULL;
    X509_ALGOR_get0(&o, NULL, NULL, a);
    nid = OBJ_obj2nid(o);
    if (hmac) /* hmac-sha1 (1.3.6.1.5.5.8.1.2) or hmacWithSHAxxx (RFC 8018) */
        md_nid = nid == NID_hmac_sha1 || nid == NID_hmacWithSHA1 ? NID_sha1
                 : nid == NID_hmacWithSHA256                     ? NID_sha256
                 : nid == NID_hmacWithSHA384                     ? NID_sha384
                 : nid == NID_hmacWithSHA512                     ? NID_sha512
                                                                 : NID_undef;
    else
        md_nid = nid;
    md = EVP_get_digestbynid(md_nid);
    X509_ALGOR_free(a);
    return md;
}

static void pbm_setup(struct pbm *b, const struct fixture *fx)
{
    const unsigned char *p = fx->palg, *end = fx->palg + fx->palg_len;
    struct tlv seq, oid, params, salt, owf, iter, mac;
    ASN1_INTEGER *n;
    const unsigned char *q;

    memset(b, 0, sizeof(*b));
    b->fx = fx;
    if (next_tlv(&p, end, &seq) != 0)
        die("PBM: bad protectionAlg");
    p = seq.content;
    end = seq.content + seq.len;
    if (next_tlv(&p, end, &oid) != 0 || next_tlv(&p, end, &params) != 0)
        die("PBM: bad protectionAlg");
    p = params.content;
    end = params.content + params.len;
    if (next_tlv(&p, end, &salt) != 0 || next_tlv(&p, end, &owf) != 0 ||
        next_tlv(&p, end, &iter) != 0 || next_tlv(&p, end, &mac) != 0)
        die("PBM: bad parameters");
    b->salt = salt.content;
    b->salt_len = salt.len;
    b->owf = md_of_algor(owf.hdr, owf.total, 0);
    b->mac = md_of_algor(mac.hdr, mac.total, 1);
    q = iter.hdr;
    n = d2i_ASN1_INTEGER(NULL, &q, iter.total);
    b->iter = n != NULL ? ASN1_INTEGER_get(n) : -1;
    ASN1_INTEGER_free(n);
    b->ctx = EVP_MD_CTX_new();
    if (b->owf == NULL || b->mac == NULL || b->iter < 1 || b->ctx == NULL)
        die("PBM: unsupported parameters");
}

/* The bare PBM check: key = owf^iter(secret || salt); HMAC(key, ProtectedPart) == protection. */
static int bare_pbm(void *arg)
{
    struct pbm *b = arg;
    unsigned char key[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
    unsigned int klen = 0, mlen = 0;

    if (!EVP_DigestInit_ex(b->ctx, b->owf, NULL) || !EVP_DigestUpdate(b->ctx, "test", 4) ||
        !EVP_DigestUpdate(b->ctx, b->salt, (size_t)b->salt_len) ||
        !EVP_DigestFinal_ex(b->ctx, key, &klen))
        return -1;
    for (long i = 1; i < b->iter; i++)
        if (!EVP_DigestInit_ex(b->ctx, b->owf, NULL) || !EVP_DigestUpdate(b->ctx, key, klen) ||
            !EVP_DigestFinal_ex(b->ctx, key, &klen))
            return -1;
    if (HMAC(b->mac, key, (int)klen, b->fx->pp, (size_t)b->fx->pp_len, mac, &mlen) == NULL)
        return -1;
    OPENSSL_cleanse(key, sizeof(key));
    return (long)mlen == b->fx->prot_len && CRYPTO_memcmp(mac, b->fx->prot, mlen) == 0 ? 0 : -1;
}

struct sigv {
    const struct fixture *fx;
    EVP_PKEY *pub;
    const EVP_MD *md;
};

/* The bare signature check: EVP_DigestVerify of ProtectedPart with the signer's key. */
static int bare_sig(void *arg)
{
    struct sigv *s = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, s->md, NULL, s->pub) == 1 &&
             EVP_DigestVerify(ctx, s->fx->prot, (size_t)s->fx->prot_len, s->fx->pp,
                              (size_t)s->fx->pp_len) == 1;

    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

#ifdef PKIE_BENCH_HAVE_CMP
static int ours_codec(void *arg)
{
    const struct fixture *fx = arg;
    struct pkie_cmp_msg *m = NULL;
    uint8_t *out = NULL;
    size_t n = 0;
    int ok = pkie_cmp_msg_decode(fx->der, (size_t)fx->len, NULL, &m) == 0 &&
             pkie_cmp_msg_encode(m, &out, &n) == 0 && n == (size_t)fx->len;

    free(out);
    pkie_cmp_msg_free(m);
    return ok ? 0 : -1;
}

static int ours_identical(const struct fixture *fx)
{
    struct pkie_cmp_msg *m = NULL;
    uint8_t *out = NULL;
    size_t n = 0;
    int ok = pkie_cmp_msg_decode(fx->der, (size_t)fx->len, NULL, &m) == 0 &&
             pkie_cmp_msg_encode(m, &out, &n) == 0 && n == (size_t)fx->len &&
             memcmp(out, fx->der, n) == 0;

    free(out);
    pkie_cmp_msg_free(m);
    return ok ? 0 : -1;
}

struct ours_verify {
    struct pkie_cmp_msg *m;
    EVP_PKEY *pub;
};

static int ours_mac(void *arg)
{
    struct ours_verify *o = arg;

    return pkie_cmp_verify_mac(o->m, (const uint8_t *)"test", 4, NULL) == 0 ? 0 : -1;
}

static int ours_sig(void *arg)
{
    struct ours_verify *o = arg;

    return pkie_cmp_verify_sig(o->m, o->pub) == 0 ? 0 : -1;
}
#endif

/* ---- measurement ---- */

static double target_seconds(void)
{
    const char *e = getenv("PKIE_BENCH_SECONDS");
    double s = e != NULL ? atof(e) : 0.1;

    return s > 0.001 && s < 60 ? s : 0.1;
}

static int rounds(void)
{
    const char *e = getenv("PKIE_BENCH_ROUNDS");
    int r = e != NULL ? atoi(e) : 15;

    return r >= 1 && r <= 101 ? r : 15;
}

/* Seconds for n calls; exits on the first failure. */
static double run_n(op_fn f, void *arg, long n, const char *what)
{
    double t0 = now_s();

    for (long i = 0; i < n; i++)
        if (f(arg) != 0)
            die(what);
    return now_s() - t0;
}

/* Calls per measurement so that one takes about target_seconds(). */
static long calibrate(op_fn f, void *arg, const char *what)
{
    long n = 1;
    double t;

    for (;;) {
        t = run_n(f, arg, n, what);
        if (t >= 0.02 || n >= (1L << 30))
            break;
        n *= 4;
    }
    n = (long)((double)n * target_seconds() / (t > 0 ? t : 1e-9));
    return n > 0 ? n : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

struct stats {
    double median, min, max;
};

static struct stats summarize(double *v, int n)
{
    struct stats s;

    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

/* per_call: report microseconds per call (else calls per second). */
static void compare(const char *name, op_fn ours, void *ours_arg, op_fn base, void *base_arg,
                    int per_call, const char *target)
{
    int r = rounds();
    double *vo = calloc((size_t)r, sizeof(double)), *vb = calloc((size_t)r, sizeof(double));
    double *vr = calloc((size_t)r, sizeof(double));
    long no = ours != NULL ? calibrate(ours, ours_arg, name) : 0;
    long nb = calibrate(base, base_arg, name);
    struct stats so = {0}, sb, sr = {0};

    if (vo == NULL || vb == NULL || vr == NULL)
        die("out of memory");
    for (int i = 0; i < r; i++) {
        for (int k = 0; k < 2; k++) {
            int ours_now = (i + k) % 2 == 0;

            if (ours_now && ours != NULL) {
                double t = run_n(ours, ours_arg, no, name);
                vo[i] = per_call ? t * 1e6 / (double)no : (double)no / t;
            } else if (!ours_now) {
                double t = run_n(base, base_arg, nb, name);
                vb[i] = per_call ? t * 1e6 / (double)nb : (double)nb / t;
            }
        }
    }
    /* the ratio is the median of the per-round ratios: each pair ran back to
       back, so drift of the machine's speed cancels out */
    for (int i = 0; ours != NULL && i < r; i++)
        vr[i] = vo[i] / vb[i];
    sb = summarize(vb, r);
    if (ours != NULL) {
        so = summarize(vo, r);
        sr = summarize(vr, r);
        printf("RESULT %s ours=%.2f baseline=%.2f ratio=%.3f target=%s\n", name, so.median,
               sb.median, sr.median, target);
    } else {
        printf("RESULT %s ours=n/a baseline=%.2f ratio=n/a target=%s (pkie_cmp not built)\n", name,
               sb.median, target);
    }
    if (ours != NULL && (so.max - so.min) > 0.1 * so.median)
        printf("  %s ours: min=%.2f max=%.2f (%d rounds)\n", name, so.min, so.max, r);
    if ((sb.max - sb.min) > 0.1 * sb.median)
        printf("  %s baseline: min=%.2f max=%.2f (%d rounds)\n", name, sb.min, sb.max, r);
    if (ours != NULL && (sr.max - sr.min) > 0.1 * sr.median)
        printf("  %s ratio: min=%.3f max=%.3f (%d rounds)\n", name, sr.min, sr.max, r);
    fflush(stdout);
    free(vo);
    free(vb);
    free(vr);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/data/cmp";
    struct fixture ir = {0}, ip = {0};
    struct pbm pbm;
    struct sigv sv = {0};
    const unsigned char *p;
    X509 *signer;
    X509_ALGOR *alg;
    const ASN1_OBJECT *sigoid;
    int md_nid = NID_undef;

    load(&ir, dir, "ir_mac.req1.der");
    load(&ip, dir, "ip_chain.rsp1.der");

    /* the signer's key and digest for the bare signature check */
    p = ip.cert0;
    signer = d2i_X509(NULL, &p, ip.cert0_len);
    p = ip.palg;
    alg = d2i_X509_ALGOR(NULL, &p, ip.palg_len);
    if (signer == NULL || alg == NULL)
        die("ip_chain: no signer certificate / algorithm");
    X509_ALGOR_get0(&sigoid, NULL, NULL, alg);
    if (!OBJ_find_sigid_algs(OBJ_obj2nid(sigoid), &md_nid, NULL))
        die("ip_chain: unknown signature algorithm");
    sv.fx = &ip;
    sv.pub = X509_get0_pubkey(signer);
    sv.md = md_nid != NID_undef ? EVP_get_digestbynid(md_nid) : NULL;
    pbm_setup(&pbm, &ir);

    /* every operation must succeed once before anything is timed */
    if (ossl_codec(&ir) != 0 || ossl_codec(&ip) != 0 || ossl_identical(&ir) != 0 ||
        ossl_identical(&ip) != 0)
        die("OpenSSL does not round-trip the fixtures");
    if (bare_pbm(&pbm) != 0)
        die("bare PBM check fails on ir_mac.req1.der");
    if (bare_sig(&sv) != 0)
        die("bare signature check fails on ip_chain.rsp1.der");

    printf("bench_cmp_codec: %s (%ld bytes), %s (%ld bytes); %d rounds of ~%.2f s; %s\n", ir.name,
           ir.len, ip.name, ip.len, rounds(), target_seconds(), OpenSSL_version(OPENSSL_VERSION));
#ifdef PKIE_BENCH_HAVE_CMP
    struct pkie_cmp_msg *mi = NULL, *mp = NULL;
    struct ours_verify oi, op;

    if (ours_codec(&ir) != 0 || ours_codec(&ip) != 0 || ours_identical(&ir) != 0 ||
        ours_identical(&ip) != 0)
        die("pkie does not round-trip the fixtures");
    if (pkie_cmp_msg_decode(ir.der, (size_t)ir.len, NULL, &mi) != 0 ||
        pkie_cmp_msg_decode(ip.der, (size_t)ip.len, NULL, &mp) != 0)
        die("pkie_cmp_msg_decode failed");
    oi.m = mi;
    oi.pub = NULL;
    op.m = mp;
    op.pub = sv.pub;
    if (ours_mac(&oi) != 0)
        die("pkie_cmp_verify_mac fails on ir_mac.req1.der");
    if (ours_sig(&op) != 0)
        die("pkie_cmp_verify_sig fails on ip_chain.rsp1.der");

    compare("cmp_codec_ir_mac_msgs_per_s", ours_codec, &ir, ossl_codec, &ir, 0, "5x");
    compare("cmp_codec_ip_sig_3certs_msgs_per_s", ours_codec, &ip, ossl_codec, &ip, 0, "5x");
    compare("cmp_verify_pbm_us_vs_bare_hmac", ours_mac, &oi, bare_pbm, &pbm, 1, "<=1.10");
    compare("cmp_verify_ecdsa_us_vs_bare_verify", ours_sig, &op, bare_sig, &sv, 1, "<=1.10");
    pkie_cmp_msg_free(mi);
    pkie_cmp_msg_free(mp);
#else
    compare("cmp_codec_ir_mac_msgs_per_s", NULL, NULL, ossl_codec, &ir, 0, "5x");
    compare("cmp_codec_ip_sig_3certs_msgs_per_s", NULL, NULL, ossl_codec, &ip, 0, "5x");
    compare("cmp_verify_pbm_us_vs_bare_hmac", NULL, NULL, bare_pbm, &pbm, 1, "<=1.10");
    compare("cmp_verify_ecdsa_us_vs_bare_verify", NULL, NULL, bare_sig, &sv, 1, "<=1.10");
#endif
    EVP_MD_CTX_free(pbm.ctx);
    X509_ALGOR_free(alg);
    X509_free(signer);
    free(ir.pp_buf);
    free(ip.pp_buf);
    free(ir.der);
    free(ip.der);
    return 0;
}
