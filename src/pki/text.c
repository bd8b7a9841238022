/* Text forms of certificate fields; type names, id syntax and type detection. */
#include "pki_int.h"

#include "pkie/error.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *pki_name_text(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL, *data = NULL;
    if (b == NULL)
        return NULL;
    /* RFC 4514 order and escaping, UTF-8 kept as is */
    unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    if (X509_NAME_print_ex(b, name, 0, flags) >= 0) {
        long n = BIO_get_mem_data(b, &data);
        out = malloc((size_t)n + 1);
        if (out != NULL) {
            if (n > 0)
                memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

char *pki_time_text(const ASN1_TIME *t)
{
    struct tm tm;
    char buf[32];
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return NULL;
    if (strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return NULL;
    return strdup(buf);
}

char *pki_serial_text(const ASN1_INTEGER *serial)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL, *out = NULL;
    BN_free(bn);
    if (hex == NULL)
        return NULL;
    out = strdup(hex);
    OPENSSL_free(hex);
    if (out != NULL)
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return out;
}

char *pki_fingerprint_text(X509 *cert)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1)
        return NULL;
    char *out = malloc(2 * (size_t)n + 1);
    if (out == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[2 * n] = '\0';
    return out;
}

int pki_self_signed(X509 *cert)
{
    return X509_self_signed(cert, 1) == 1;
}

const char *pkie_pki_type_name(enum pkie_pki_type type)
{
    switch (type) {
    case PKIE_PKI_ROOT:
        return "root";
    case PKIE_PKI_INTER:
        return "inter";
    case PKIE_PKI_USER:
        return "user";
    default:
        return "?";
    }
}

int pkie_pki_type_parse(const char *s, enum pkie_pki_type *out)
{
    if (s != NULL && strcmp(s, "root") == 0)
        *out = PKIE_PKI_ROOT;
    else if (s != NULL && strcmp(s, "inter") == 0)
        *out = PKIE_PKI_INTER;
    else if (s != NULL && strcmp(s, "user") == 0)
        *out = PKIE_PKI_USER;
    else
        return PKIE_ERR(PKIE_ERR_ARG, "type '%s': expected root, inter or user",
                        s != NULL ? s : "(null)");
    return 0;
}

enum pkie_pki_type pkie_pki_type_detect(X509 *cert)
{
    if (X509_check_ca(cert) == 0)
        return PKIE_PKI_USER;
    return pki_self_signed(cert) ? PKIE_PKI_ROOT : PKIE_PKI_INTER;
}

int pkie_pki_id_check(const char *id)
{
    size_t n = 0;
    if (id == NULL || *id == '\0')
        return PKIE_ERR(PKIE_ERR_PKI_BAD_ID, "empty id");
    for (const char *p = id; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (n >= PKIE_PKI_ID_MAX)
            return PKIE_ERR(PKIE_ERR_PKI_BAD_ID, "id longer than %d characters", PKIE_PKI_ID_MAX);
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) &&
            c != '.' && c != '_' && c != '-' && c != ':' && c != '@')
            return PKIE_ERR(PKIE_ERR_PKI_BAD_ID, "id '%.64s': character 0x%02x not allowed", id, c);
    }
    return 0;
}

char *pkie_pki_name_text(const X509_NAME *name)
{
    return pki_name_text(name);
}
