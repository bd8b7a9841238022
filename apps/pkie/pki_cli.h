/* Helpers of `pkie pki` (cmd_pki.c) for reading files and passwords (pki_files.c). */
#ifndef PKIE_APP_PKI_CLI_H
#define PKIE_APP_PKI_CLI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/**
 * Read a password given as SPEC: "env:VAR", "file:PATH" (first line) or
 * "pass:TEXT" (warns: visible to other users). @p what names the option in
 * messages. Returns a malloc'd string (free with pkie_wipe_free_str) or NULL
 * after printing a one-line error.
 */
char *pki_cli_password(const char *spec, const char *what);

/**
 * Read a certificate from @p path: PEM, DER or PKCS#12 (with @p pass, may be
 * NULL). A PKCS#12 file's private key, if any, goes to *@p p12_key (may be
 * NULL). NULL after printing a one-line error naming the file.
 */
X509 *pki_cli_read_cert(const char *path, const char *pass, EVP_PKEY **p12_key);

/** Read a private key (PEM, DER, PKCS#8 encrypted or not, PKCS#12) from @p path. */
EVP_PKEY *pki_cli_read_key(const char *path, const char *pass);

/** Read a CRL (PEM or DER) from @p path. */
X509_CRL *pki_cli_read_crl(const char *path);

#endif
