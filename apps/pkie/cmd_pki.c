/* pkie pki: manage the internal PKI base (certificates, encrypted keys, CRLs). */
#include "commands.h"
#include "pki_cli.h"

#include "pkie/error.h"
#include "pkie/pki.h"
#include "pkie/wipe.h"

#include <openssl/pem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Options of every subcommand; each one accepts a subset (see the tables). */
struct pki_opts {
    const char *pki, *pass, *pass_file, *id, *type, *cert, *key, *key_pass, *out, *kdf_iter;
    int chain, der, help, force;
    const char *pos[2]; /* positional arguments */
    int npos;
};

enum {
    O_PKI = 1 << 0,
    O_PASS = 1 << 1,
    O_ID = 1 << 2,
    O_TYPE = 1 << 3,
    O_CERT = 1 << 4,
    O_KEY = 1 << 5,
    O_KEYPASS = 1 << 6,
    O_OUT = 1 << 7,
    O_CHAIN = 1 << 8,
    O_DER = 1 << 9,
    O_KDF = 1 << 10,
    O_FORCE = 1 << 11
};

struct optdef {
    const char *name;
    int bit;
    size_t off; /* offset of the const char * (or int for flags) in pki_opts */
    int flag;
};

#define OPT(n, b, f)                                                                               \
    {                                                                                              \
        n, b, offsetof(struct pki_opts, f), 0                                                      \
    }
#define FLAG(n, b, f)                                                                              \
    {                                                                                              \
        n, b, offsetof(struct pki_opts, f), 1                                                      \
    }
static const struct optdef optdefs[] = {
    OPT("--pki", O_PKI, pki),
    OPT("--pass", O_PASS, pass),
    OPT("--pass-file", O_PASS, pass_file),
    OPT("--id", O_ID, id),
    OPT("--type", O_TYPE, type),
    OPT("--cert", O_CERT, cert),
    OPT("--key", O_KEY, key),
    OPT("--key-pass", O_KEYPASS, key_pass),
    OPT("--out", O_OUT, out),
    OPT("--kdf-iter", O_KDF, kdf_iter),
    FLAG("--chain", O_CHAIN, chain),
    FLAG("--der", O_DER, der),
    FLAG("--force", O_FORCE, force),
};

static const char usage_text[] =
    "usage: pkie pki [--pki FILE] [--pass SPEC | --pass-file FILE] COMMAND [OPTIONS]\n"
    "\n"
    "Manage the internal PKI base: a SQLite file (mode 0600) of certificates,\n"
    "private keys encrypted with the PKI password, and CRLs.\n"
    "\n"
    "Commands:\n"
    "  init                          create an empty base\n"
    "  import --id ID --cert FILE [--type root|inter|user] [--key FILE] [--key-pass SPEC]\n"
    "                                add a certificate (PEM, DER or PKCS#12) and its key\n"
    "  list                          list the certificates\n"
    "  show --id ID                  show one certificate\n"
    "  delete --id ID                delete a certificate and its key\n"
    "  export --id ID [--out FILE] [--chain] [--der]\n"
    "                                write a certificate (with --chain: and its CAs)\n"
    "  crl import FILE               add a CRL (PEM or DER) issued by a CA of the base\n"
    "  crl list                      list the CRLs\n"
    "  check --id ID                 verify a certificate's chain against the base\n"
    "\n"
    "Options:\n"
    "  --pki FILE        the base (default: $PKIE_PKI)\n"
    "  --pass SPEC       PKI password: env:VAR, file:PATH or pass:TEXT (tests only)\n"
    "  --pass-file FILE  same as --pass file:FILE\n"
    "  --help            this help; 'pkie pki COMMAND --help' for one command\n"
    "\n"
    "See pkie-pki(1).\n";

struct subcmd {
    const char *name;
    int allowed; /* option bits */
    int npos;    /* positional arguments expected */
    const char *usage;
    int (*fn)(struct pki_opts *o);
};

static int fail(const char *cmd, int rc)
{
    const struct pkie_error *e = pkie_err_last();
    fprintf(stderr, "pkie pki %s: %s\n", cmd,
            e->code == rc && e->msg[0] ? e->msg : pkie_strerror(rc));
    return 1;
}

static const char *base_path(struct pki_opts *o)
{
    const char *p = o->pki != NULL ? o->pki : getenv("PKIE_PKI");
    if (p == NULL || *p == '\0')
        fprintf(stderr, "pkie pki: no base given: use --pki FILE or set PKIE_PKI\n");
    return p != NULL && *p != '\0' ? p : NULL;
}

/* The PKI password if given (malloc'd), or NULL; *bad = 1 after an error. */
static char *password(struct pki_opts *o, int *bad)
{
    *bad = 0;
    if (o->pass != NULL && o->pass_file != NULL) {
        fprintf(stderr, "pkie pki: give --pass or --pass-file, not both\n");
        *bad = 1;
        return NULL;
    }
    if (o->pass_file != NULL) {
        char spec[4096];
        if (snprintf(spec, sizeof(spec), "file:%s", o->pass_file) >= (int)sizeof(spec)) {
            fprintf(stderr, "pkie pki: --pass-file: path too long\n");
            *bad = 1;
            return NULL;
        }
        char *p = pki_cli_password(spec, "--pass-file");
        *bad = p == NULL;
        return p;
    }
    if (o->pass != NULL) {
        char *p = pki_cli_password(o->pass, "--pass");
        *bad = p == NULL;
        return p;
    }
    return NULL;
}

static int need_id(struct pki_opts *o, const char *cmd)
{
    if (o->id == NULL) {
        fprintf(stderr, "pkie pki %s: --id is required\n", cmd);
        return -1;
    }
    return 0;
}

static int cmd_init(struct pki_opts *o)
{
    const char *path = base_path(o);
    struct pkie_pki_store *st = NULL;
    if (path == NULL)
        return 1;
    int rc = pkie_pki_store_open(path, NULL, 1, &st);
    if (rc != 0)
        return fail("init", rc);
    pkie_pki_store_close(st);
    printf("PKI base %s ready\n", path);
    return 0;
}

static int cmd_import(struct pki_opts *o)
{
    const char *path = base_path(o);
    enum pkie_pki_type type = PKIE_PKI_TYPE_DETECT, stored = PKIE_PKI_TYPE_DETECT;
    char *pass = NULL, *key_pass = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL, *p12_key = NULL;
    struct pkie_pki_store *st = NULL;
    int ret = 1, bad = 0, rc;

    if (path == NULL || need_id(o, "import") != 0)
        return 1;
    if (o->cert == NULL) {
        fprintf(stderr, "pkie pki import: --cert is required\n");
        return 1;
    }
    if (o->type != NULL && pkie_pki_type_parse(o->type, &type) != 0) {
        fprintf(stderr, "pkie pki import: --type '%s': expected root, inter or user\n", o->type);
        return 1;
    }
    unsigned long iter = PKIE_PKI_KDF_ITER_DEFAULT;
    if (o->kdf_iter != NULL) {
        char *end = NULL;
        iter = strtoul(o->kdf_iter, &end, 10);
        if (end == o->kdf_iter || *end != '\0' || iter < PKIE_PKI_KDF_ITER_MIN ||
            iter > 100000000ul) {
            fprintf(stderr, "pkie pki import: --kdf-iter '%s': expected %u..100000000\n",
                    o->kdf_iter, PKIE_PKI_KDF_ITER_MIN);
            return 1;
        }
    }
    if (pkie_pki_id_check(o->id) != 0) {
        fprintf(stderr, "pkie pki import: --id '%s': use 1..%d of A-Z a-z 0-9 . _ - : @\n", o->id,
                PKIE_PKI_ID_MAX);
        return 1;
    }
    pass = password(o, &bad);
    if (bad)
        goto out;
    if (o->key_pass != NULL && (key_pass = pki_cli_password(o->key_pass, "--key-pass")) == NULL)
        goto out;
    if ((cert = pki_cli_read_cert(o->cert, key_pass, &p12_key)) == NULL)
        goto out;
    if (o->key != NULL) {
        if ((key = pki_cli_read_key(o->key, key_pass)) == NULL)
            goto out;
    } else {
        key = p12_key;
        p12_key = NULL;
    }
    if (key != NULL && pass == NULL) {
        fprintf(stderr, "pkie pki import: storing a private key needs the PKI password "
                        "(--pass or --pass-file)\n");
        goto out;
    }
    if ((rc = pkie_pki_store_open(path, pass, 1, &st)) != 0 ||
        (rc = pkie_pki_store_set_kdf_iter(st, (unsigned)iter)) != 0) {
        fail("import", rc);
        goto out;
    }
    if ((rc = pkie_pki_store_import_check(st, cert, type, time(NULL))) != 0) {
        const struct pkie_error *e = pkie_err_last();
        const char *why = e->code == rc && e->msg[0] ? e->msg : pkie_strerror(rc);
        if (!o->force) {
            fprintf(stderr, "pkie pki import: %s refused: %s (--force imports it anyway)\n", o->id,
                    why);
            goto out;
        }
        fprintf(stderr, "pkie pki import: warning: %s: %s (imported: --force)\n", o->id, why);
    }
    if ((rc = pkie_pki_store_add(st, o->id, type, cert, key, &stored)) != 0) {
        fail("import", rc);
        goto out;
    }
    printf("imported %s (%s%s)\n", o->id, pkie_pki_type_name(stored),
           key != NULL ? ", with key" : "");
    ret = 0;
out:
    pkie_pki_store_close(st);
    X509_free(cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(p12_key);
    pkie_wipe_free_str(pass);
    pkie_wipe_free_str(key_pass);
    return ret;
}

static int open_snapshot(struct pki_opts *o, const char *cmd, struct pkie_pki **pki)
{
    const char *path = base_path(o);
    if (path == NULL)
        return -1;
    int rc = pkie_pki_open(path, NULL, 0, pki);
    if (rc != 0) {
        fail(cmd, rc);
        return -1;
    }
    return 0;
}

static int cmd_list(struct pki_opts *o)
{
    struct pkie_pki *pki = NULL;
    if (open_snapshot(o, "list", &pki) != 0)
        return 1;
    printf("%-20s %-5s %-3s %-20s %s\n", "ID", "TYPE", "KEY", "NOT AFTER", "SUBJECT");
    for (size_t i = 0; i < pkie_pki_count(pki); i++) {
        const struct pkie_pki_entry *e = pkie_pki_entry_at(pki, i);
        printf("%-20s %-5s %-3s %-20s %s\n", e->id, pkie_pki_type_name(e->type),
               e->has_key ? "yes" : "no", e->not_after, e->subject);
    }
    pkie_pki_close(pki);
    return 0;
}

/* Id of the base's certificate equal to @p c, or "?". */
static const char *id_of(struct pkie_pki *pki, X509 *c)
{
    for (size_t i = 0; i < pkie_pki_count(pki); i++)
        if (X509_cmp(pkie_pki_entry_at(pki, i)->cert, c) == 0)
            return pkie_pki_entry_at(pki, i)->id;
    return "?";
}

static int cmd_show(struct pki_opts *o)
{
    struct pkie_pki *pki = NULL;
    STACK_OF(X509) *chain = NULL;
    if (need_id(o, "show") != 0 || open_snapshot(o, "show", &pki) != 0)
        return 1;
    const struct pkie_pki_entry *e = pkie_pki_find(pki, o->id);
    if (e == NULL) {
        fprintf(stderr, "pkie pki show: no certificate with id '%s'\n", o->id);
        pkie_pki_close(pki);
        return 1;
    }
    EVP_PKEY *pub = X509_get0_pubkey(e->cert);
    printf("id:          %s\n", e->id);
    printf("type:        %s\n", pkie_pki_type_name(e->type));
    printf("subject:     %s\n", e->subject);
    printf("issuer:      %s\n", e->issuer);
    printf("serial:      %s\n", e->serial);
    printf("not before:  %s\n", e->not_before);
    printf("not after:   %s\n", e->not_after);
    printf("public key:  %s %d bits\n", pub ? EVP_PKEY_get0_type_name(pub) : "?",
           pub ? EVP_PKEY_get_bits(pub) : 0);
    printf("sha256:      %s\n", e->sha256);
    printf("private key: %s\n", e->has_key ? "yes (encrypted at rest)" : "no");
    if (pkie_pki_get_chain(pki, o->id, &chain, NULL) == 0) {
        printf("chain:      ");
        for (int i = 0; i < sk_X509_num(chain); i++)
            printf(" %s%s", i ? "<- " : "", id_of(pki, sk_X509_value(chain, i)));
        printf("\n");
    }
    sk_X509_pop_free(chain, X509_free);
    pkie_pki_close(pki);
    return 0;
}

static int cmd_delete(struct pki_opts *o)
{
    const char *path = base_path(o);
    struct pkie_pki_store *st = NULL;
    int rc;
    if (path == NULL || need_id(o, "delete") != 0)
        return 1;
    if ((rc = pkie_pki_store_open(path, NULL, 0, &st)) != 0 ||
        (rc = pkie_pki_store_delete(st, o->id)) != 0) {
        pkie_pki_store_close(st);
        return fail("delete", rc);
    }
    pkie_pki_store_close(st);
    printf("deleted %s\n", o->id);
    return 0;
}

static int cmd_export(struct pki_opts *o)
{
    struct pkie_pki *pki = NULL;
    STACK_OF(X509) *chain = NULL;
    FILE *f = stdout;
    int ret = 1, rc;
    if (need_id(o, "export") != 0)
        return 1;
    if (o->der && o->chain) {
        fprintf(stderr, "pkie pki export: --der writes one certificate: not with --chain\n");
        return 1;
    }
    if (open_snapshot(o, "export", &pki) != 0)
        return 1;
    if ((rc = pkie_pki_get_chain(pki, o->id, &chain, NULL)) != 0) {
        fail("export", rc);
        goto out;
    }
    if (o->out != NULL && (f = fopen(o->out, "wb")) == NULL) {
        fprintf(stderr, "pkie pki export: --out '%s': cannot create\n", o->out);
        goto out;
    }
    int n = o->chain ? sk_X509_num(chain) : 1, ok = 1;
    for (int i = 0; i < n && ok; i++)
        ok = o->der ? i2d_X509_fp(f, sk_X509_value(chain, i))
                    : PEM_write_X509(f, sk_X509_value(chain, i));
    if (f != stdout && fclose(f) != 0)
        ok = 0;
    f = stdout;
    if (!ok) {
        fprintf(stderr, "pkie pki export: cannot write '%s'\n", o->out ? o->out : "stdout");
        goto out;
    }
    if (o->out != NULL)
        printf("wrote %d certificate(s) to %s\n", n, o->out);
    ret = 0;
out:
    if (f != stdout)
        fclose(f);
    sk_X509_pop_free(chain, X509_free);
    pkie_pki_close(pki);
    return ret;
}

static int cmd_check(struct pki_opts *o)
{
    struct pkie_pki *pki = NULL;
    char detail[256];
    int alert = 0;
    if (need_id(o, "check") != 0 || open_snapshot(o, "check", &pki) != 0)
        return 1;
    int rc = pkie_pki_check(pki, o->id, &alert, detail, sizeof(detail));
    pkie_pki_close(pki);
    if (rc == 0) {
        printf("%s: ok\n", o->id);
        return 0;
    }
    if (rc == PKIE_ERR_PKI_UNKNOWN_ID)
        return fail("check", rc);
    printf("%s: refused: %s (TLS alert %d)\n", o->id, detail, alert);
    return 1;
}

static int cmd_crl_import(struct pki_opts *o)
{
    const char *path = base_path(o);
    struct pkie_pki_store *st = NULL;
    int rc;
    if (path == NULL)
        return 1;
    X509_CRL *crl = pki_cli_read_crl(o->pos[0]);
    if (crl == NULL)
        return 1;
    if ((rc = pkie_pki_store_open(path, NULL, 0, &st)) != 0 ||
        (rc = pkie_pki_store_add_crl(st, crl)) != 0) {
        pkie_pki_store_close(st);
        X509_CRL_free(crl);
        return fail("crl import", rc);
    }
    pkie_pki_store_close(st);
    printf("imported CRL '%s' (%d revoked)\n", o->pos[0],
           sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)));
    X509_CRL_free(crl);
    return 0;
}

static void print_time(const char *label, const ASN1_TIME *t)
{
    printf("%s", label);
    if (t == NULL) {
        printf("-");
        return;
    }
    BIO *b = BIO_new_fp(stdout, BIO_NOCLOSE);
    ASN1_TIME_print_ex(b, t, ASN1_DTFLGS_ISO8601);
    BIO_free(b);
}

static int cmd_crl_list(struct pki_opts *o)
{
    struct pkie_pki *pki = NULL;
    if (open_snapshot(o, "crl list", &pki) != 0)
        return 1;
    for (size_t i = 0; i < pkie_pki_crl_count(pki); i++) {
        X509_CRL *crl = pkie_pki_crl_at(pki, i);
        char *issuer = X509_NAME_oneline(X509_CRL_get_issuer(crl), NULL, 0);
        fflush(stdout);
        printf("issuer %s, ", issuer ? issuer : "?");
        fflush(stdout);
        print_time("this update ", X509_CRL_get0_lastUpdate(crl));
        fflush(stdout);
        print_time(", next update ", X509_CRL_get0_nextUpdate(crl));
        fflush(stdout);
        printf(", %d revoked\n", sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)));
        OPENSSL_free(issuer);
    }
    pkie_pki_close(pki);
    return 0;
}

#define GLOBAL (O_PKI | O_PASS)
static const struct subcmd subcmds[] = {
    {"init", GLOBAL, 0, "usage: pkie pki init [--pki FILE]\n", cmd_init},
    {"import", GLOBAL | O_ID | O_TYPE | O_CERT | O_KEY | O_KEYPASS | O_KDF | O_FORCE, 0,
     "usage: pkie pki import --id ID --cert FILE [--type root|inter|user] [--key FILE]\n"
     "                       [--key-pass SPEC] [--kdf-iter N] [--force] [--pki FILE]\n"
     "                       [--pass SPEC | --pass-file FILE]\n"
     "The certificate may be PEM, DER or PKCS#12 (its key is taken along); the key\n"
     "PEM or DER, PKCS#8 encrypted or not. --key-pass opens them (env:, file:, pass:).\n"
     "A key needs the PKI password, which encrypts it in the base.\n"
     "Refused, saying why, unless --force: a certificate expired or not yet valid,\n"
     "a user certificate whose issuer is not a CA of the base (import it first).\n",
     cmd_import},
    {"list", GLOBAL, 0, "usage: pkie pki list [--pki FILE]\n", cmd_list},
    {"show", GLOBAL | O_ID, 0, "usage: pkie pki show --id ID [--pki FILE]\n", cmd_show},
    {"delete", GLOBAL | O_ID, 0, "usage: pkie pki delete --id ID [--pki FILE]\n", cmd_delete},
    {"export", GLOBAL | O_ID | O_OUT | O_CHAIN | O_DER, 0,
     "usage: pkie pki export --id ID [--out FILE] [--chain] [--der] [--pki FILE]\n"
     "PEM by default; --chain adds the intermediates as TLS sends them (no root).\n",
     cmd_export},
    {"check", GLOBAL | O_ID, 0,
     "usage: pkie pki check --id ID [--pki FILE]\n"
     "Verifies the certificate against the base's roots, intermediates and CRLs.\n"
     "Exit status 0 when valid, 1 when refused.\n",
     cmd_check},
    {"crl import", GLOBAL, 1, "usage: pkie pki crl import FILE [--pki FILE]\n", cmd_crl_import},
    {"crl list", GLOBAL, 0, "usage: pkie pki crl list [--pki FILE]\n", cmd_crl_list},
};

static const struct optdef *find_opt(const char *arg, size_t len)
{
    for (size_t i = 0; i < sizeof(optdefs) / sizeof(optdefs[0]); i++)
        if (strlen(optdefs[i].name) == len && strncmp(optdefs[i].name, arg, len) == 0)
            return &optdefs[i];
    return NULL;
}

int pkie_cmd_pki(int argc, char **argv)
{
    struct pki_opts o;
    const char *words[3] = {NULL, NULL, NULL};
    int nwords = 0;
    memset(&o, 0, sizeof(o));
    /* first pass: collect words (command and positional arguments) and options */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o.help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (nwords == 3) {
                fprintf(stderr, "pkie pki: unexpected argument '%s'\n", a);
                return 1;
            }
            words[nwords++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        const struct optdef *d = find_opt(a, eq ? (size_t)(eq - a) : strlen(a));
        if (d == NULL) {
            fprintf(stderr, "pkie pki: unknown option '%s' (see pkie pki --help)\n", a);
            return 1;
        }
        char *base = (char *)&o;
        if (d->flag) {
            if (eq != NULL) {
                fprintf(stderr, "pkie pki: option '%s' takes no value\n", d->name);
                return 1;
            }
            *(int *)(void *)(base + d->off) = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (val == NULL) {
            fprintf(stderr, "pkie pki: option '%s' needs a value\n", d->name);
            return 1;
        }
        const char **slot = (const char **)(void *)(base + d->off);
        if (*slot != NULL) {
            fprintf(stderr, "pkie pki: option '%s' given twice\n", d->name);
            return 1;
        }
        *slot = val;
    }
    if (nwords == 0) {
        fputs(usage_text, o.help ? stdout : stderr);
        return o.help ? 0 : 1;
    }
    /* "crl import" and "crl list" are two words */
    const struct subcmd *sc = NULL;
    int used = 1;
    char two[64];
    if (strcmp(words[0], "crl") == 0) {
        if (nwords < 2) {
            if (o.help) {
                printf("usage: pkie pki crl import FILE | pkie pki crl list\n");
                return 0;
            }
            fprintf(stderr, "pkie pki crl: expected 'import FILE' or 'list'\n");
            return 1;
        }
        snprintf(two, sizeof(two), "crl %.50s", words[1]);
        used = 2;
    } else {
        snprintf(two, sizeof(two), "%.60s", words[0]);
    }
    for (size_t i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
        if (strcmp(subcmds[i].name, two) == 0)
            sc = &subcmds[i];
    if (sc == NULL) {
        fprintf(stderr, "pkie pki: unknown command '%s' (see pkie pki --help)\n", two);
        return 1;
    }
    if (o.help) {
        fputs(sc->usage, stdout);
        return 0;
    }
    /* options the command does not take */
    for (size_t i = 0; i < sizeof(optdefs) / sizeof(optdefs[0]); i++) {
        const struct optdef *d = &optdefs[i];
        const char *base = (const char *)&o;
        int given = d->flag ? *(const int *)(const void *)(base + d->off) != 0
                            : *(const char *const *)(const void *)(base + d->off) != NULL;
        if (given && !(sc->allowed & d->bit)) {
            fprintf(stderr, "pkie pki %s: option '%s' does not apply\n", sc->name, d->name);
            return 1;
        }
    }
    o.npos = nwords - used;
    if (o.npos != sc->npos) {
        if (o.npos > sc->npos)
            fprintf(stderr, "pkie pki %s: unexpected argument '%s'\n", sc->name,
                    words[used + sc->npos]);
        else
            fprintf(stderr, "pkie pki %s: missing FILE argument\n", sc->name);
        return 1;
    }
    for (int i = 0; i < o.npos; i++)
        o.pos[i] = words[used + i];
    return sc->fn(&o);
}
