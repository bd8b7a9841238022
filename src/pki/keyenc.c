/* Private keys at rest: PKCS#8 EncryptedPrivateKeyInfo, PBES2 with AES-256-CBC
 * and PBKDF2-HMAC-SHA256, a random 16-byte salt per key. */
#include "pki_int.h"

#include "pkie/error.h"

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <string.h>

int pki_pbkdf2(const char *password, const unsigned char *salt, size_t salt_len, unsigned iter,
               unsigned char *out, size_t out_len)
{
    size_t plen = strlen(password);
    if (plen > PKI_PASSWORD_MAX)
        return PKIE_ERR(PKIE_ERR_LIMIT, "password longer than %d bytes", PKI_PASSWORD_MAX);
    if (PKCS5_PBKDF2_HMAC(password, (int)plen, salt, (int)salt_len, (int)iter, EVP_sha256(),
                          (int)out_len, out) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PBKDF2");
    return 0;
}

int pki_key_encrypt(EVP_PKEY *key, const char *password, unsigned iter, unsigned char **der,
                    size_t *der_len)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    X509_ALGOR *alg = NULL;
    X509_SIG *enc = NULL;
    unsigned char salt[16];
    int rc, n;
    size_t plen = strlen(password);

    *der = NULL;
    *der_len = 0;
    if (plen == 0)
        return PKIE_ERR(PKIE_ERR_ARG, "empty PKI password");
    if (plen > PKI_PASSWORD_MAX)
        return PKIE_ERR(PKIE_ERR_LIMIT, "password longer than %d bytes", PKI_PASSWORD_MAX);
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "RAND_bytes");
    p8 = EVP_PKEY2PKCS8(key);
    if (p8 == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "cannot encode the private key as PKCS#8");
        goto err;
    }
    alg = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), (int)iter, salt, (int)sizeof(salt), NULL,
                            NID_hmacWithSHA256);
    if (alg == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PBES2 parameters");
        goto err;
    }
    enc = PKCS8_set0_pbe(password, (int)plen, p8, alg);
    if (enc == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "PKCS#8 encryption");
        goto err;
    }
    alg = NULL; /* owned by enc */
    n = i2d_X509_SIG(enc, der);
    if (n <= 0) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_CRYPTO, "encoding EncryptedPrivateKeyInfo");
        goto err;
    }
    *der_len = (size_t)n;
    rc = 0;
err:
    X509_ALGOR_free(alg);
    X509_SIG_free(enc);
    PKCS8_PRIV_KEY_INFO_free(p8); /* clears the plaintext key octets */
    return rc;
}

int pki_key_decrypt(const unsigned char *der, size_t der_len, const char *password, EVP_PKEY **out)
{
    const unsigned char *p = der;
    X509_SIG *enc = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    const X509_ALGOR *alg = NULL;
    int rc;
    size_t plen = strlen(password);

    *out = NULL;
    if (der_len == 0 || der_len > PKI_DER_MAX)
        return PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "encrypted key of %zu bytes", der_len);
    if (plen > PKI_PASSWORD_MAX)
        return PKIE_ERR(PKIE_ERR_LIMIT, "password longer than %d bytes", PKI_PASSWORD_MAX);
    enc = d2i_X509_SIG(NULL, &p, (long)der_len);
    if (enc == NULL || p != der + der_len) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_CORRUPT, "encrypted key does not parse");
        goto err;
    }
    /* only ever PBES2: refuse weaker schemes a modified file could carry */
    X509_SIG_get0(enc, &alg, NULL);
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    if (OBJ_obj2nid(oid) != NID_pbes2) {
        rc = PKIE_ERR(PKIE_ERR_PKI_CORRUPT, "encrypted key does not use PBES2");
        goto err;
    }
    p8 = PKCS8_decrypt(enc, password, (int)plen);
    if (p8 == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_PASSWORD, "cannot decrypt a private key (wrong password?)");
        goto err;
    }
    *out = EVP_PKCS82PKEY(p8);
    if (*out == NULL) {
        rc = PKIE_ERR_OSSL(PKIE_ERR_PKI_CORRUPT, "decrypted key does not parse");
        goto err;
    }
    rc = 0;
err:
    PKCS8_PRIV_KEY_INFO_free(p8);
    X509_SIG_free(enc);
    return rc;
}
