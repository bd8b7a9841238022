/* pkie ca client | pending | revoke | list | show | export. */
#include "ca_cli.h"
#include "pkie/error.h"
#include "pkie/wipe.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a small option parser: --name VALUE, --name=VALUE, --flag ------------ */

struct ca_opt {
    const char *name; /* without the leading "--" */
    int has_arg;      /* 1: takes a value */
    const char **val; /* where the value goes (has_arg) */
    int *flag;        /* set to 1 (no arg) */
};

/* Returns -1 when parsing succeeded (continue), else the exit status. */
static int parse_opts(const char *sub, int argc, char **argv, const struct ca_opt *o,
                      const char *help, char **pos, int maxpos, int *npos)
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (*npos >= maxpos)
                return ca_cli_usage_error(sub, "unexpected argument '%s'", a);
            pos[(*npos)++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
        const struct ca_opt *m = NULL;
        for (const struct ca_opt *x = o; x->name != NULL; x++)
            if (strlen(x->name) == nlen && strncmp(x->name, a + 2, nlen) == 0)
                m = x;
        if (m == NULL)
            return ca_cli_usage_error(sub, "unknown option '%s'", a);
        if (!m->has_arg) {
            if (eq != NULL)
                return ca_cli_usage_error(sub, "option '--%s' takes no value", m->name);
            *m->flag = 1;
        } else if (eq != NULL)
            *m->val = eq + 1;
        else if (i + 1 < argc)
            *m->val = argv[++i];
        else
            return ca_cli_usage_error(sub, "option '--%s' needs a value", m->name);
    }
    return -1;
}

/* --db of every subcommand: a PostgreSQL connection string or an SQLite
 * file (default DIR/ca.db); set by the option tables below. */
static const char *db_opt;

static int open_store(const char *sub, const char *dir, const char *pass_file,
                      const char *pass_spec, int need_pass, struct pkie_ca_store **s)
{
    char *pass = NULL;
    if (dir == NULL)
        return ca_cli_usage_error(sub, "--dir is required");
    if (need_pass && (pass = ca_cli_pass(pass_file, pass_spec)) == NULL)
        return ca_cli_fail(sub);
    int rc = pkie_ca_dir_open_db(dir, db_opt, pass, s);
    pkie_wipe_free_str(pass);
    return rc != 0 ? ca_cli_fail(sub) : 0;
}

static const char *status_name(int st)
{
    return st == PKIE_CA_CERT_ISSUED      ? "issued"
           : st == PKIE_CA_CERT_CONFIRMED ? "confirmed"
           : st == PKIE_CA_CERT_REVOKED   ? "revoked"
                                          : "?";
}

static const char *tx_state_name(int st)
{
    static const char *const names[] = {"waiting", "approved", "rejected",
                                        "issued",  "closed",   "expired"};
    return st >= 0 && st <= 5 ? names[st] : "?";
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        snprintf(buf, cap, "-");
    else
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- client ----------------------------------------------------------------- */

static const char client_help[] =
    "usage: pkie ca client add --dir DIR --ref REF --secret-file F --subject-pattern PAT\n"
    "                          [--san-pattern PAT] [--profile NAME] [--approval auto|manual]\n"
    "                          [--central-keygen allow|deny]\n"
    "       pkie ca client list --dir DIR\n"
    "       pkie ca client remove --dir DIR --ref REF\n"
    "\n"
    "Register who may enroll with a MAC (PasswordBasedMac or PBMAC1), and for which names.\n"
    "  --ref REF              the reference (senderKID) the client uses\n"
    "  --secret-file F        the shared secret: the first line of F\n"
    "  --subject-pattern PAT  allowed subjects, e.g. \"CN=*.example.com,O=Example\"\n"
    "                         ('*' matches within one attribute value, '?' one character)\n"
    "  --san-pattern PAT      allowed SANs, e.g. \"DNS:*.example.com,IP:10.0.0.1\" (default none)\n"
    "  --profile NAME         issuance profile: default, tls, short (default: default)\n"
    "  --approval MODE        auto (default) or manual (requests wait for pending approve)\n"
    "  --central-keygen MODE  allow: the CA generates the key pair when a request carries no\n"
    "                         public key (RFC 9483 4.1.6); deny (default)\n"
    "  --pass-file F | --pass env:VAR   the CA passphrase (encrypts the secret)\n" CA_DB_HELP;

static int read_secret(const char *path, struct pkie_ca_client *c)
{
    FILE *f = fopen(path, "r");
    char buf[PKIE_CA_SECRET_MAX + 4];
    if (f == NULL)
        return PKIE_ERR(PKIE_ERR_IO, "cannot open secret file %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    n = strcspn(buf, "\r\n");
    int rc = 0;
    if (n == 0 || n > PKIE_CA_SECRET_MAX)
        rc = PKIE_ERR(PKIE_ERR_ARG, "secret in %s must have 1..%d bytes on its first line", path,
                      PKIE_CA_SECRET_MAX);
    else {
        memcpy(c->secret, buf, n);
        c->secret_len = n;
    }
    pkie_wipe(buf, sizeof(buf));
    return rc;
}

static int print_client(void *arg, const struct pkie_ca_client *c)
{
    (void)arg;
    printf("%-20s %-8s %-7s subject=%s san=%s\n", c->ref, c->profile, c->manual ? "manual" : "auto",
           c->subject_pattern, c->san_pattern[0] != '\0' ? c->san_pattern : "-");
    return 0;
}

int ca_cmd_client(int argc, char **argv)
{
    const char *dir = NULL, *ref = NULL, *secret_file = NULL, *subj = NULL, *san = "",
               *profile = "default", *approval = "auto", *pass_file = NULL, *pass_spec = NULL,
               *keygen = "deny";
    const struct ca_opt o[] = {
        {"dir", 1, &dir, NULL},
        {"db", 1, &db_opt, NULL},
        {"ref", 1, &ref, NULL},
        {"secret-file", 1, &secret_file, NULL},
        {"subject-pattern", 1, &subj, NULL},
        {"san-pattern", 1, &san, NULL},
        {"profile", 1, &profile, NULL},
        {"approval", 1, &approval, NULL},
        {"central-keygen", 1, &keygen, NULL},
        {"pass-file", 1, &pass_file, NULL},
        {"pass", 1, &pass_spec, NULL},
        {NULL, 0, NULL, NULL},
    };
    char *pos[1];
    int npos, rc = parse_opts("client", argc, argv, o, client_help, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    if (npos != 1)
        return ca_cli_usage_error("client", "expected add, list or remove");
    struct pkie_ca_store *s = NULL;
    if (strcmp(pos[0], "list") == 0) {
        if ((rc = open_store("client", dir, NULL, NULL, 0, &s)) != 0)
            return rc;
        rc = pkie_ca_store_client_list(s, print_client, NULL) != 0 ? ca_cli_fail("client") : 0;
    } else if (strcmp(pos[0], "remove") == 0) {
        if (ref == NULL)
            return ca_cli_usage_error("client", "--ref is required");
        if ((rc = open_store("client", dir, NULL, NULL, 0, &s)) != 0)
            return rc;
        rc = pkie_ca_store_client_remove(s, ref) != 0 || pkie_ca_store_keygen_set(s, ref, 0) != 0
                 ? ca_cli_fail("client")
                 : 0;
    } else if (strcmp(pos[0], "add") == 0) {
        struct pkie_ca_client c;
        memset(&c, 0, sizeof(c));
        if (ref == NULL || secret_file == NULL || subj == NULL)
            return ca_cli_usage_error("client",
                                      "add needs --ref, --secret-file and --subject-pattern");
        if (strlen(ref) > PKIE_CA_REF_MAX || strlen(san) > PKIE_CA_PATTERN_MAX)
            return ca_cli_usage_error("client", "--ref or --san-pattern too long");
        if (pkie_ca_pattern_check(subj) != 0)
            return ca_cli_fail("client");
        if (pkie_ca_profile_find(profile) == NULL)
            return ca_cli_usage_error("client", "unknown profile '%s' (default, tls, short)",
                                      profile);
        if (strcmp(approval, "auto") != 0 && strcmp(approval, "manual") != 0)
            return ca_cli_usage_error("client", "--approval must be auto or manual");
        if (strcmp(keygen, "allow") != 0 && strcmp(keygen, "deny") != 0)
            return ca_cli_usage_error("client", "--central-keygen must be allow or deny");
        if (read_secret(secret_file, &c) != 0)
            return ca_cli_fail("client");
        snprintf(c.ref, sizeof(c.ref), "%s", ref);
        snprintf(c.subject_pattern, sizeof(c.subject_pattern), "%s", subj);
        snprintf(c.san_pattern, sizeof(c.san_pattern), "%s", san);
        snprintf(c.profile, sizeof(c.profile), "%s", profile);
        c.manual = strcmp(approval, "manual") == 0;
        rc = open_store("client", dir, pass_file, pass_spec, 1, &s);
        if (rc == 0 && (pkie_ca_store_client_add(s, &c) != 0 ||
                        pkie_ca_store_keygen_set(s, ref, strcmp(keygen, "allow") == 0) != 0))
            rc = ca_cli_fail("client");
        pkie_wipe(&c, sizeof(c));
    } else
        return ca_cli_usage_error("client", "unknown action '%s' (add, list, remove)", pos[0]);
    pkie_ca_store_close(s);
    return rc;
}

/* ---- pending ---------------------------------------------------------------- */

static const char pending_help[] =
    "usage: pkie ca pending list --dir DIR\n"
    "       pkie ca pending approve ID --dir DIR\n"
    "       pkie ca pending reject ID --dir DIR --reason TEXT\n"
    "\n"
    "Decide on requests of clients registered with --approval manual. The client\n"
    "polls (pollReq) and receives the certificate or the rejection at its next poll.\n" CA_DB_HELP;

static int print_tx(void *arg, const struct pkie_ca_tx *t)
{
    char when[32];
    (void)arg;
    fmt_time(t->created, when, sizeof(when));
    printf("%-6lld %-8s %s %-20s %s\n", (long long)t->id, tx_state_name(t->state), when,
           t->client_ref, t->subject);
    return 0;
}

int ca_cmd_pending(int argc, char **argv)
{
    const char *dir = NULL, *reason = NULL;
    const struct ca_opt o[] = {
        {"dir", 1, &dir, NULL},
        {"db", 1, &db_opt, NULL},
        {"reason", 1, &reason, NULL},
        {NULL, 0, NULL, NULL},
    };
    char *pos[2];
    int npos, rc = parse_opts("pending", argc, argv, o, pending_help, pos, 2, &npos);
    if (rc >= 0)
        return rc;
    if (npos < 1)
        return ca_cli_usage_error("pending", "expected list, approve ID or reject ID");
    struct pkie_ca_store *s = NULL;
    if (strcmp(pos[0], "list") == 0) {
        if (npos != 1)
            return ca_cli_usage_error("pending", "list takes no argument");
        if ((rc = open_store("pending", dir, NULL, NULL, 0, &s)) != 0)
            return rc;
        rc = pkie_ca_store_tx_list(s, PKIE_CA_TX_WAITING, print_tx, NULL) != 0
                 ? ca_cli_fail("pending")
                 : 0;
        pkie_ca_store_close(s);
        return rc;
    }
    int approve = strcmp(pos[0], "approve") == 0;
    if (!approve && strcmp(pos[0], "reject") != 0)
        return ca_cli_usage_error("pending", "unknown action '%s' (list, approve, reject)", pos[0]);
    if (npos != 2)
        return ca_cli_usage_error("pending", "%s needs a transaction ID", pos[0]);
    char *end = NULL;
    long long id = strtoll(pos[1], &end, 10);
    if (end == pos[1] || *end != '\0' || id <= 0)
        return ca_cli_usage_error("pending", "bad transaction ID '%s'", pos[1]);
    if (!approve && (reason == NULL || reason[0] == '\0'))
        return ca_cli_usage_error("pending", "reject needs --reason TEXT");
    if ((rc = open_store("pending", dir, NULL, NULL, 0, &s)) != 0)
        return rc;
    if (pkie_ca_store_tx_set_state(s, id, PKIE_CA_TX_WAITING,
                                   approve ? PKIE_CA_TX_APPROVED : PKIE_CA_TX_REJECTED,
                                   approve ? NULL : reason) != 0)
        rc = ca_cli_fail("pending");
    pkie_ca_store_close(s);
    return rc;
}

/* ---- revoke ------------------------------------------------------------------ */

static const char revoke_help[] =
    "usage: pkie ca revoke --dir DIR --serial S --reason R\n"
    "\n"
    "Revoke an issued certificate; the next CRL lists it.\n"
    "  --serial S   serial number in hex (as pkie ca list prints it)\n"
    "  --reason R   unspecified, keyCompromise, cACompromise, affiliationChanged,\n"
    "               superseded, cessationOfOperation, certificateHold,\n"
    "               privilegeWithdrawn, aACompromise, or the number 0..10\n" CA_DB_HELP;

static int reason_code(const char *r)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
    for (int i = 0; i <= 10; i++)
        if (names[i] != NULL && strcasecmp(names[i], r) == 0)
            return i;
    char *end = NULL;
    long v = strtol(r, &end, 10);
    if (end != r && *end == '\0' && v >= 0 && v <= 10 && v != 7 && v != 8)
        return (int)v;
    return -1;
}

int ca_cmd_revoke(int argc, char **argv)
{
    const char *dir = NULL, *serial = NULL, *reason = NULL;
    const struct ca_opt o[] = {
        {"dir", 1, &dir, NULL},       {"db", 1, &db_opt, NULL}, {"serial", 1, &serial, NULL},
        {"reason", 1, &reason, NULL}, {NULL, 0, NULL, NULL},
    };
    char *pos[1];
    int npos, rc = parse_opts("revoke", argc, argv, o, revoke_help, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    if (serial == NULL || reason == NULL)
        return ca_cli_usage_error("revoke", "--serial and --reason are required");
    int code = reason_code(reason);
    if (code < 0 || code == 8)
        return ca_cli_usage_error("revoke", "unknown reason '%s'", reason);
    struct pkie_ca_store *s = NULL;
    if ((rc = open_store("revoke", dir, NULL, NULL, 0, &s)) != 0)
        return rc;
    if (pkie_ca_store_cert_set_status(s, serial, PKIE_CA_CERT_REVOKED, code) != 0)
        rc = ca_cli_fail("revoke");
    pkie_ca_store_close(s);
    return rc;
}

/* ---- list / show / export ------------------------------------------------------ */

static const char list_help[] = "usage: pkie ca list --dir DIR [--revoked]\n"
                                "\n"
                                "One line per issued certificate: serial, status, notAfter, "
                                "client, subject.\n" CA_DB_HELP;

static int print_cert(void *arg, const struct pkie_ca_cert *c)
{
    char na[32];
    (void)arg;
    fmt_time(c->not_after, na, sizeof(na));
    printf("%-34s %-9s %s %-16s %s\n", c->serial, status_name(c->status), na,
           c->client_ref[0] != '\0' ? c->client_ref : "-", c->subject);
    return 0;
}

int ca_cmd_list(int argc, char **argv)
{
    const char *dir = NULL;
    int revoked = 0;
    const struct ca_opt o[] = {
        {"dir", 1, &dir, NULL},
        {"db", 1, &db_opt, NULL},
        {"revoked", 0, NULL, &revoked},
        {NULL, 0, NULL, NULL},
    };
    char *pos[1];
    int npos, rc = parse_opts("list", argc, argv, o, list_help, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    struct pkie_ca_store *s = NULL;
    if ((rc = open_store("list", dir, NULL, NULL, 0, &s)) != 0)
        return rc;
    if (pkie_ca_store_cert_list(s, revoked, print_cert, NULL) != 0)
        rc = ca_cli_fail("list");
    pkie_ca_store_close(s);
    return rc;
}

static const char show_help[] = "usage: pkie ca show --dir DIR --serial S\n"
                                "\n"
                                "Print the record of one issued certificate and the certificate "
                                "(PEM).\n" CA_DB_HELP;

int ca_cmd_show(int argc, char **argv)
{
    const char *dir = NULL, *serial = NULL;
    const struct ca_opt o[] = {
        {"dir", 1, &dir, NULL},
        {"db", 1, &db_opt, NULL},
        {"serial", 1, &serial, NULL},
        {NULL, 0, NULL, NULL},
    };
    char *pos[1];
    int npos, rc = parse_opts("show", argc, argv, o, show_help, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    if (serial == NULL)
        return ca_cli_usage_error("show", "--serial is required");
    struct pkie_ca_store *s = NULL;
    struct pkie_ca_cert c;
    if ((rc = open_store("show", dir, NULL, NULL, 0, &s)) != 0)
        return rc;
    if (pkie_ca_store_cert_get(s, serial, 1, &c) != 0) {
        rc = ca_cli_fail("show");
    } else {
        char nb[32], na[32], ia[32], ra[32];
        fmt_time(c.not_before, nb, sizeof(nb));
        fmt_time(c.not_after, na, sizeof(na));
        fmt_time(c.issued_at, ia, sizeof(ia));
        fmt_time(c.revoked_at, ra, sizeof(ra));
        printf("serial:     %s\nsubject:    %s\nstatus:     %s\nnotBefore:  %s\nnotAfter:   "
               "%s\nissued:     %s\nclient:     %s\n",
               c.serial, c.subject, status_name(c.status), nb, na, ia,
               c.client_ref[0] != '\0' ? c.client_ref : "-");
        if (c.status == PKIE_CA_CERT_REVOKED)
            printf("revoked:    %s (reason %d)\n", ra, c.reason);
        const unsigned char *p = c.der;
        X509 *x = d2i_X509(NULL, &p, (long)c.der_len);
        if (x != NULL)
            PEM_write_X509(stdout, x);
        X509_free(x);
        pkie_ca_cert_clear(&c);
    }
    pkie_ca_store_close(s);
    return rc;
}

static const char export_help[] =
    "usage: pkie ca export --dir DIR (--serial S | --chain | --crl) [--out F] [--der]\n"
    "\n"
    "  --serial S   an issued certificate\n"
    "  --chain      the issuing CA chain (issuer first, root last)\n"
    "  --crl        a freshly signed CRL (needs the passphrase)\n"
    "  --out F      write to F (mode 0600) instead of standard output\n"
    "  --der        DER instead of PEM (one object only)\n"
    "  --pass-file F | --pass env:VAR   the CA passphrase (for --crl)\n" CA_DB_HELP;

static int write_out(const char *out, BIO *data)
{
    char *p = NULL;
    long n = BIO_get_mem_data(data, &p);
    if (out == NULL)
        return fwrite(p, 1, (size_t)n, stdout) == (size_t)n ? 0 : PKIE_ERR(PKIE_ERR_IO, "stdout");
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return PKIE_ERR(PKIE_ERR_IO, "cannot create %s: %s", out, strerror(errno));
    ssize_t w = write(fd, p, (size_t)n);
    int ok = w == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : PKIE_ERR(PKIE_ERR_IO, "cannot write %s", out);
}

int ca_cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *serial = NULL, *out = NULL, *pass_file = NULL, *pass_spec = NULL;
    int chain = 0, crl = 0, der = 0;
    const struct ca_opt o[] = {
        {"dir", 1, &dir, NULL},        {"db", 1, &db_opt, NULL},
        {"serial", 1, &serial, NULL},  {"chain", 0, NULL, &chain},
        {"crl", 0, NULL, &crl},        {"out", 1, &out, NULL},
        {"der", 0, NULL, &der},        {"pass-file", 1, &pass_file, NULL},
        {"pass", 1, &pass_spec, NULL}, {NULL, 0, NULL, NULL},
    };
    char *pos[1];
    int npos, rc = parse_opts("export", argc, argv, o, export_help, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    if ((serial != NULL) + chain + crl != 1)
        return ca_cli_usage_error("export", "give exactly one of --serial, --chain, --crl");
    if (chain && der)
        return ca_cli_usage_error("export", "--der writes one object; --chain has several");
    struct pkie_ca_store *s = NULL;
    char *pass = NULL;
    if (crl && (pass = ca_cli_pass(pass_file, pass_spec)) == NULL)
        return ca_cli_fail("export");
    if ((rc = open_store("export", dir, NULL, NULL, 0, &s)) != 0) {
        pkie_wipe_free_str(pass);
        return rc;
    }
    BIO *b = BIO_new(BIO_s_mem());
    X509 *x = NULL, *root = NULL;
    EVP_PKEY *key = NULL;
    X509_CRL *c = NULL;
    int ok = 0;
    if (serial != NULL) {
        struct pkie_ca_cert rec;
        if (pkie_ca_store_cert_get(s, serial, 1, &rec) == 0) {
            const unsigned char *p = rec.der;
            x = d2i_X509(NULL, &p, (long)rec.der_len);
            pkie_ca_cert_clear(&rec);
            ok = x != NULL && (der ? i2d_X509_bio(b, x) : PEM_write_bio_X509(b, x)) == 1;
        }
    } else if (chain) {
        ok = pkie_ca_store_get_ca(s, PKIE_CA_ISSUER, NULL, &x, NULL) == 0 &&
             pkie_ca_store_get_ca(s, PKIE_CA_ROOT, NULL, &root, NULL) == 0 &&
             PEM_write_bio_X509(b, x) == 1 &&
             (X509_cmp(x, root) == 0 || PEM_write_bio_X509(b, root) == 1);
    } else if (pkie_ca_store_get_ca(s, PKIE_CA_ISSUER, pass, &x, &key) == 0) {
        struct pkie_ca_issuer iss = {x, key, NULL};
        c = pkie_ca_crl_build(s, &iss, 7 * 86400);
        ok = c != NULL && (der ? i2d_X509_CRL_bio(b, c) : PEM_write_bio_X509_CRL(b, c)) == 1;
    }
    if (!ok || write_out(out, b) != 0)
        rc = ca_cli_fail("export");
    X509_CRL_free(c);
    EVP_PKEY_free(key);
    X509_free(x);
    X509_free(root);
    BIO_free(b);
    pkie_wipe_free_str(pass);
    pkie_ca_store_close(s);
    return rc;
}

/* ---- check ---------------------------------------------------------------------- */

static const char check_help[] = "usage: pkie ca check --dir DIR\n"
                                 "\n"
                                 "Check the store (SQLite: PRAGMA integrity_check; PostgreSQL: the "
                                 "constraints several nodes rely on) and print the number of "
                                 "certificates.\n" CA_DB_HELP;

int ca_cmd_check(int argc, char **argv)
{
    const char *dir = NULL;
    const struct ca_opt o[] = {
        {"dir", 1, &dir, NULL},
        {"db", 1, &db_opt, NULL},
        {NULL, 0, NULL, NULL},
    };
    char *pos[1];
    int npos, rc = parse_opts("check", argc, argv, o, check_help, pos, 0, &npos);
    if (rc >= 0)
        return rc;
    struct pkie_ca_store *s = NULL;
    int64_t n = 0;
    if ((rc = open_store("check", dir, NULL, NULL, 0, &s)) != 0)
        return rc;
    if (pkie_ca_store_check(s) != 0 || pkie_ca_store_cert_count(s, &n) != 0)
        rc = ca_cli_fail("check");
    else
        printf("ok: %lld certificates\n", (long long)n);
    pkie_ca_store_close(s);
    return rc;
}
