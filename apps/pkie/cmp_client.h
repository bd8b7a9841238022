/* The `pkie cmp` client command (everything but `pkie cmp dump`). */
#ifndef PKIE_APP_CMP_CLIENT_H
#define PKIE_APP_CMP_CLIENT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/**
 * Run `pkie cmp` with openssl cmp's options; @p argv[0] is "cmp". Returns the
 * process exit status: 0 success, 1 usage error, missing file or failed
 * transaction.
 */
int pkie_cmp_client_main(int argc, char **argv);

struct cmpc_opts;
struct pkie_cmp_ctx;

/* -reqin/-reqout/-rspin/-rspout: comma- or blank-separated file lists */
struct cmpc_files {
    char *copy;
    char *names[64];
    int n, next;
};

/** State of one `pkie cmp` run. */
struct cmpc_run {
    struct cmpc_opts *opt;
    struct cmpc_files reqin, reqout, rspin, rspout;
    int cmd;              /**< PKIE_CMP_IR.. request type, or PKIE_CMP_BODY_RR / _GENM */
    int certder;          /**< -certform DER */
    int crlpem;           /**< -crlform PEM */
    int reqout_only_done; /**< -reqout_only: the request is saved, nothing sent */
    int ckg;              /**< central key generation (-centralkeygen, or -popo -1 in an
                               enrollment, as OpenSSL 3.5 reads it) */
};

/** Build the context from the options (cmp_client_setup.c). 0 or -1 after a
 *  one-line error. */
int cmpc_setup(struct cmpc_run *r, struct pkie_cmp_ctx *ctx);

/* ---- loading and saving (cmp_client_load.c) ------------------------------ */

/** Resolve a pass phrase source as OpenSSL 3's get_passwd: pass:TEXT,
 *  env:VAR, file:PATH (first line), fd:N, stdin; any other argument (or one
 *  whose source fails) is taken as the pass phrase itself, with a warning.
 *  Returns a malloc'ed string, NULL only when out of memory. */
char *cmpc_get_pass(const char *src, const char *what);
/* Certificates and keys are loaded through OSSL_STORE as OpenSSL's apps load
 * them: PEM, DER, PKCS#12 and encrypted PKCS#8, decrypted with the pass
 * phrase given (never prompted for). */

/** Load certificates from comma- or blank-separated files or URIs (every
 *  certificate of every file). NULL after a one-line error. */
STACK_OF(X509) *cmpc_load_certs(const char *files, const char *pass, const char *what);
/** Load exactly one certificate (the first of the file). */
X509 *cmpc_load_cert(const char *file, const char *pass, const char *what);
/** Load a certificate and the chain that follows it in the same file (a
 *  PEM bundle or a PKCS#12 file). 0, or -1 after a one-line error. */
int cmpc_load_cert_chain(const char *file, const char *pass, const char *what, X509 **cert,
                         STACK_OF(X509) **chain);
/** Load a private key, or a public key when @p allow_pub and the file holds
 *  no private key. */
EVP_PKEY *cmpc_load_key(const char *file, const char *pass, int allow_pub, const char *what);
/** Load a PKCS#10 CSR (PEM or DER). */
X509_REQ *cmpc_load_csr(const char *file, const char *what);
/** Load a CRL (PEM or DER). */
X509_CRL *cmpc_load_crl(const char *file, const char *what);
/** A trust store from certificate files. */
X509_STORE *cmpc_load_store(const char *files, const char *what);
/** Parse "/CN=x/O=y" (openssl -subj syntax, '+' for multi-valued RDNs, '\'
 *  escapes). NULL after a one-line error naming @p what. */
X509_NAME *cmpc_parse_name(const char *text, const char *what);
/** Write certificates to @p file as PEM (or DER: only the first). */
int cmpc_save_certs(const char *file, STACK_OF(X509) *certs, int der, const char *what);
/** Write bytes to a file. */
int cmpc_save_bytes(const char *file, const unsigned char *p, size_t len, const char *what);
/** Read a whole file (at most @p max bytes). */
unsigned char *cmpc_read_file(const char *file, size_t max, size_t *len, const char *what);

#endif
