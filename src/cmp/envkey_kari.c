/* Central key envelope, key agreement (kari, RFC 5652 6.2.2, RFC 5753) to an EC client
 * certificate on a curve of cofactor 1, with the DER codec and EVP instead of libcrypto's CMS
 * (see envkey_local.h; other recipients and forms go through libcrypto's CMS). */
#include "envkey_local.h"
#include "pkie/error.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* kari (RFC 5652 6.2.2, RFC 5753): a recipient certificate's EC key on one of these curves of
 * cofactor 1, where a point that decodes (on the curve, as X509 decoding checks) is a valid
 * public key; libcrypto's CMS_encrypt validates it once more by multiplying it by the order
 * (0.68 M instructions of its 1.5 M, bench/README.md). NULL: another key (CMS_encrypt). */
const char *envkey_kari_curve(EVP_PKEY *pub)
{
    static const char *const prime_order[] = {"prime256v1", "P-256",     "secp384r1",
                                              "P-384",      "secp521r1", "P-521"};
    char group[32];
    if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) != 1)
        return NULL;
    for (size_t i = 0; i < sizeof(prime_order) / sizeof(prime_order[0]); i++)
        if (strcmp(group, prime_order[i]) == 0)
            return prime_order[i];
    return NULL;
}

#define OID_EC_PUBKEY   "1.2.840.10045.2.1"
#define OID_ECDH_SHA256 "1.3.132.1.11.1"          /* dhSinglePass-stdDH-sha256kdf-scheme */
#define OID_AES256_WRAP "2.16.840.1.101.3.4.1.45" /* id-aes256-wrap */
#define OID_AES256_CBC  "2.16.840.1.101.3.4.1.42"

/* The key-encryption key of dhSinglePass-stdDH-sha256kdf-scheme with id-aes256-wrap: the
 * ANSI X9.63 KDF with SHA-256 over Z and the ECC-CMS-SharedInfo (RFC 5753 7.2: keyInfo
 * id-aes256-wrap without parameters, no entityUInfo, suppPubInfo the KEK length in bits), one
 * block. */
static int kari_kek(const uint8_t *z, size_t zlen, uint8_t kek[32])
{
    static const uint8_t counter[4] = {0, 0, 0, 1}, bits[4] = {0, 0, 1, 0};
    struct pkie_derw w;
    const uint8_t *si = NULL;
    size_t si_len = 0;
    pkie_derw_init(&w, 256);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_AES256_WRAP);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(2));
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, bits, sizeof(bits));
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok = pkie_derw_finish(&w, &si, &si_len) == 0 && md != NULL &&
             EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, z, zlen) == 1 &&
             EVP_DigestUpdate(md, counter, 4) == 1 && EVP_DigestUpdate(md, si, si_len) == 1 &&
             EVP_DigestFinal_ex(md, kek, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    pkie_derw_free(&w);
    return ok;
}

/* One-shot symmetric encryption (@p enc 1) or decryption of @p in into @p out (room for
 * inlen + 16 + 8); decryption fails on a wrong padding or key-wrap check value. */
static int cipher(const EVP_CIPHER *c, int enc, const uint8_t *key, const uint8_t *iv,
                  const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int a = 0, b = 0;
    if (x != NULL)
        EVP_CIPHER_CTX_set_flags(x, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int ok = x != NULL && inlen <= INT_MAX / 2 &&
             EVP_CipherInit_ex(x, c, NULL, key, iv, enc) == 1 &&
             EVP_CipherUpdate(x, out, &a, in, (int)inlen) == 1 &&
             EVP_CipherFinal_ex(x, out + a, &b) == 1;
    EVP_CIPHER_CTX_free(x);
    *outlen = (size_t)a + (size_t)b;
    return ok;
}

/* The EnvelopedData (as [0] IMPLICIT, the EncryptedKey) of @p sd to @p cert's EC key by
 * kari, as CMS_encrypt with tune_recipient writes it: an ephemeral key on the recipient's
 * curve, dhSinglePass-stdDH-sha256kdf-scheme, id-aes256-wrap, the recipient by issuer and
 * serial number, the content in AES-256-CBC. */
int envkey_kari_seal(const uint8_t *sd, size_t sd_len, X509 *cert, uint8_t **out, size_t *len)
{
    EVP_PKEY *peer = X509_get0_pubkey(cert), *eph = NULL;
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL), *dc = NULL;
    uint8_t z[66], kek[32], cek[32], iv[16], wrapped[40], pub[1 + 2 * 66];
    size_t zlen = sizeof(z), wlen = 0, pub_len = 0, clen = 0;
    unsigned char *issuer = NULL, *serial = NULL;
    uint8_t *enc = malloc(sd_len + 16);
    struct pkie_derw w;
    pkie_derw_init(&w, 2 * MAX_ENVELOPE);
    int ilen = i2d_X509_NAME(X509_get_issuer_name(cert), &issuer);
    int slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &serial);
    int rc = PKIE_ERR_CRYPTO;
    if (enc == NULL || kc == NULL || ilen <= 0 || slen <= 0 || EVP_PKEY_keygen_init(kc) != 1 ||
        EVP_PKEY_keygen(kc, &eph) != 1 ||
        EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &pub_len) !=
            1 ||
        (dc = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) == NULL ||
        EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer_ex(dc, peer, 0) != 1 ||
        EVP_PKEY_derive(dc, z, &zlen) != 1 || !kari_kek(z, zlen, kek) ||
        RAND_priv_bytes(cek, sizeof(cek)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1 ||
        !cipher(EVP_aes_256_wrap(), 1, kek, NULL, cek, sizeof(cek), wrapped, &wlen) ||
        !cipher(EVP_aes_256_cbc(), 1, cek, iv, sd, sd_len, enc, &clen)) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "envelope the generated key (kari)");
        goto done;
    }
    pkie_derw_begin(&w, PKIE_DER_CTX_C(0)); /* EnvelopedData */
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 2);
    pkie_derw_begin(&w, PKIE_DER_SET);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(1)); /* KeyAgreeRecipientInfo */
    pkie_derw_int64(&w, PKIE_DER_INTEGER, 3);
    pkie_derw_begin(&w, PKIE_DER_CTX_C(0)); /* originator: originatorKey [1] */
    pkie_derw_begin(&w, PKIE_DER_CTX_C(1));
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_EC_PUBKEY); /* parameters absent: the recipient's */
    pkie_derw_end(&w);
    pkie_derw_bit_string(&w, PKIE_DER_BIT_STRING, pub, pub_len, 0);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* keyEncryptionAlgorithm */
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_ECDH_SHA256);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_AES256_WRAP);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* recipientEncryptedKeys */
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* rid: issuerAndSerialNumber */
    pkie_derw_raw(&w, issuer, (size_t)ilen);
    pkie_derw_raw(&w, serial, (size_t)slen);
    pkie_derw_end(&w);
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, wrapped, wlen);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE); /* encryptedContentInfo */
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_SIGNED_DATA);
    pkie_derw_begin(&w, PKIE_DER_SEQUENCE);
    pkie_derw_oid_text(&w, PKIE_DER_OID, OID_AES256_CBC);
    pkie_derw_octets(&w, PKIE_DER_OCTET_STRING, iv, sizeof(iv));
    pkie_derw_end(&w);
    pkie_derw_octets(&w, PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 0, 0), enc, clen);
    pkie_derw_end(&w);
    pkie_derw_end(&w);
    rc = pkie_derw_steal(&w, out, len);
done:
    OPENSSL_cleanse(z, sizeof(z));
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_cleanse(cek, sizeof(cek));
    free(enc); /* ciphertext */
    OPENSSL_free(issuer);
    OPENSSL_free(serial);
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_CTX_free(kc);
    EVP_PKEY_free(eph);
    pkie_derw_free(&w);
    return rc;
}

static int oid_is(const uint8_t *oid, size_t len, const char *text)
{
    uint8_t want[16];
    size_t n = 0;
    return pkie_der_oid_from_text(text, want, sizeof(want), &n) == 0 &&
           pkie_der_oid_equal(oid, len, want, n);
}

/* An AlgorithmIdentifier of @p text without parameters. */
static int alg_is(struct pkie_der *d, const char *text)
{
    struct pkie_der a;
    const uint8_t *oid = NULL;
    size_t n = 0;
    return pkie_der_enter(d, PKIE_DER_SEQUENCE, &a) == 0 &&
           pkie_der_read_oid(&a, PKIE_DER_OID, &oid, &n) == 0 && pkie_der_finish(&a) == 0 &&
           oid_is(oid, n, text);
}

/* What envkey_kari_open reads from the one form it takes. */
struct kari_form {
    const uint8_t *pub, *rid, *wrapped, *iv, *content;
    size_t pub_len, rid_len, wrapped_len, iv_len, content_len;
};

/* The EnvelopedData of @p ek (as envkey_kari_seal writes it: version 2, one kari with an
 * originatorKey without parameters, no ukm, dhSinglePass-stdDH-sha256kdf-scheme with
 * id-aes256-wrap, one recipientEncryptedKey by issuer and serial number, AES-256-CBC content
 * of type id-signedData, no originatorInfo nor unprotectedAttrs). 0 when of that form. */
static int kari_parse(const uint8_t *ek, size_t len, struct kari_form *f)
{
    struct pkie_der d, env, ris, kari, orig, okey, keys, rek, eci, calg;
    struct pkie_der_tlv rid = {0};
    const uint8_t *ct = NULL;
    size_t ct_len = 0;
    int64_t v = 0, kv = 0;
    unsigned unused = 0;
    pkie_der_init(&d, ek, len);
    int ok =
        pkie_der_enter(&d, PKIE_DER_CTX_C(0), &env) == 0 && pkie_der_finish(&d) == 0 &&
        pkie_der_read_int64(&env, PKIE_DER_INTEGER, &v) == 0 && v == 2 &&
        pkie_der_enter(&env, PKIE_DER_SET, &ris) == 0 &&
        pkie_der_enter(&ris, PKIE_DER_CTX_C(1), &kari) == 0 && pkie_der_finish(&ris) == 0 &&
        pkie_der_read_int64(&kari, PKIE_DER_INTEGER, &kv) == 0 && kv == 3 &&
        pkie_der_enter(&kari, PKIE_DER_CTX_C(0), &orig) == 0 &&
        pkie_der_enter(&orig, PKIE_DER_CTX_C(1), &okey) == 0 && pkie_der_finish(&orig) == 0 &&
        alg_is(&okey, OID_EC_PUBKEY) &&
        pkie_der_read_bit_string(&okey, PKIE_DER_BIT_STRING, &f->pub, &f->pub_len, &unused) == 0 &&
        unused == 0 && pkie_der_finish(&okey) == 0 && /* ukm absent: */
        !pkie_der_peek_is(&kari, PKIE_DER_CTX_C(1));
    struct pkie_der kea;
    ok = ok && pkie_der_enter(&kari, PKIE_DER_SEQUENCE, &kea) == 0 &&
         pkie_der_read_oid(&kea, PKIE_DER_OID, &ct, &ct_len) == 0 &&
         oid_is(ct, ct_len, OID_ECDH_SHA256) && alg_is(&kea, OID_AES256_WRAP) &&
         pkie_der_finish(&kea) == 0 && pkie_der_enter(&kari, PKIE_DER_SEQUENCE, &keys) == 0 &&
         pkie_der_finish(&kari) == 0 && pkie_der_enter(&keys, PKIE_DER_SEQUENCE, &rek) == 0 &&
         pkie_der_finish(&keys) == 0 && pkie_der_read_tlv(&rek, &rid) == 0 &&
         rid.tag == PKIE_DER_SEQUENCE &&
         pkie_der_read_octets(&rek, PKIE_DER_OCTET_STRING, &f->wrapped, &f->wrapped_len) == 0 &&
         pkie_der_finish(&rek) == 0 && pkie_der_enter(&env, PKIE_DER_SEQUENCE, &eci) == 0 &&
         pkie_der_finish(&env) == 0 && pkie_der_read_oid(&eci, PKIE_DER_OID, &ct, &ct_len) == 0 &&
         oid_is(ct, ct_len, OID_SIGNED_DATA) &&
         pkie_der_enter(&eci, PKIE_DER_SEQUENCE, &calg) == 0 &&
         pkie_der_read_oid(&calg, PKIE_DER_OID, &ct, &ct_len) == 0 &&
         oid_is(ct, ct_len, OID_AES256_CBC) &&
         pkie_der_read_octets(&calg, PKIE_DER_OCTET_STRING, &f->iv, &f->iv_len) == 0 &&
         pkie_der_finish(&calg) == 0 &&
         pkie_der_read_octets(&eci, PKIE_DER_TAG(PKIE_DER_CLASS_CONTEXT, 0, 0), &f->content,
                              &f->content_len) == 0 &&
         pkie_der_finish(&eci) == 0;
    pkie_err_clear();
    f->rid = rid.tlv;
    f->rid_len = rid.tlv_len;
    return ok ? 0 : 1;
}

/* Is @p rid (issuerAndSerialNumber) @p cert's? */
static int rid_is(const uint8_t *rid, size_t rid_len, X509 *cert)
{
    unsigned char *issuer = NULL, *serial = NULL;
    int ilen = i2d_X509_NAME(X509_get_issuer_name(cert), &issuer);
    int slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &serial);
    struct pkie_der d, s;
    struct pkie_der_tlv a, b;
    pkie_der_init(&d, rid, rid_len);
    int same = ilen > 0 && slen > 0 && pkie_der_enter(&d, PKIE_DER_SEQUENCE, &s) == 0 &&
               pkie_der_read_tlv(&s, &a) == 0 && pkie_der_read_tlv(&s, &b) == 0 &&
               pkie_der_finish(&s) == 0 && a.tlv_len == (size_t)ilen &&
               memcmp(a.tlv, issuer, a.tlv_len) == 0 && b.tlv_len == (size_t)slen &&
               memcmp(b.tlv, serial, b.tlv_len) == 0;
    pkie_err_clear();
    OPENSSL_free(issuer);
    OPENSSL_free(serial);
    return same;
}

int envkey_kari_open(const uint8_t *ek, size_t len, X509 *cert, EVP_PKEY *key, uint8_t **plain,
                     size_t *plain_len)
{
    struct kari_form f;
    const char *curve = key != NULL ? envkey_kari_curve(key) : NULL;
    size_t field = curve == NULL ? 0 : strstr(curve, "256") ? 32 : strstr(curve, "384") ? 48 : 66;
    /* an uncompressed point of the key's curve (not the point at infinity), this client the
     * recipient, a 256-bit content key wrapped (40 bytes), a 16-byte IV */
    if (curve == NULL || cert == NULL || kari_parse(ek, len, &f) != 0 ||
        f.pub_len != 1 + 2 * field || f.pub[0] != 0x04 || !rid_is(f.rid, f.rid_len, cert) ||
        f.wrapped_len != 40 || f.iv_len != 16 || f.content_len == 0 || f.content_len % 16 != 0)
        return 1;
    EVP_PKEY *peer = EVP_PKEY_new();
    EVP_PKEY_CTX *dc = NULL;
    uint8_t z[66], kek[32], cek[40];
    size_t zlen = sizeof(z), cek_len = 0, n = 0;
    uint8_t *out = malloc(f.content_len + 16);
    /* the originator's point: decoding checks it is on the curve, which on a curve of
     * cofactor 1 makes it a valid public key (so the agreement does not check it again) */
    int ok = peer != NULL && out != NULL && EVP_PKEY_copy_parameters(peer, key) == 1 &&
             EVP_PKEY_set1_encoded_public_key(peer, f.pub, f.pub_len) == 1 &&
             (dc = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) != NULL &&
             EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer_ex(dc, peer, 0) == 1 &&
             EVP_PKEY_derive(dc, z, &zlen) == 1 && kari_kek(z, zlen, kek) &&
             cipher(EVP_aes_256_wrap(), 0, kek, NULL, f.wrapped, f.wrapped_len, cek, &cek_len) &&
             cek_len == 32 &&
             cipher(EVP_aes_256_cbc(), 0, cek, f.iv, f.content, f.content_len, out, &n);
    OPENSSL_cleanse(z, sizeof(z));
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_cleanse(cek, sizeof(cek));
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_free(peer);
    if (!ok || n == 0) {
        if (out != NULL)
            OPENSSL_cleanse(out, f.content_len + 16);
        free(out);
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "central key: cannot decrypt by key agreement "
                                              "(kari) with the client's key");
    }
    *plain = out;
    *plain_len = n;
    return 0;
}
