/* Unit tests: per-partner inbound directories and name patterns
 * (partner.NAME.dir, partner.NAME.names: xconf.c, name.c, pdirs.c) and two
 * partners receiving the same name at once in their own directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* ---- patterns ------------------------------------------------------------- */

static int pat_ok(const char *p)
{
    return pkie_xfer_name_pattern_check(p, strlen(p));
}

static void test_pattern_check(void **state)
{
    (void)state;
    const char *good[] = {"*",  "*.csv", "report-??.txt",    "a*b*c", "\xc3\xa9t\xc3\xa9-*",
                          "**", "x",     "name with blanks*"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(pat_ok(good[i]), 0);
    const char *bad[] = {
        "a]",    /* brackets: no classes, neither half */
        "[ab]*", /* a class */
        "a\\*",  /* an escape */
        "in/*",  /* a '/' */
        ".*",    /* a leading dot: no name has one */
        "*..*",  /* ".." is in no name */
        "a\tb",  /* a control character */
        "\xff*", /* invalid UTF-8 */
        "\xc3",  /* cut UTF-8 */
        "a\\b",  /* backslash */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pat_ok(bad[i]), PKIE_ERR_CONF_VALUE);
        assert_non_null(strstr(pkie_err_last()->msg, "pattern"));
    }
    assert_int_equal(pkie_xfer_name_pattern_check("", 0), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_xfer_name_pattern_check(NULL, 0), PKIE_ERR_CONF_VALUE);
    char longp[PKIE_XFER_NAME_MAX + 2];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(pat_ok(longp), PKIE_ERR_CONF_VALUE);
    longp[PKIE_XFER_NAME_MAX] = '\0';
    assert_int_equal(pat_ok(longp), 0);
    /* a NUL inside the pattern's bytes */
    assert_int_equal(pkie_xfer_name_pattern_check("a\0b", 3), PKIE_ERR_CONF_VALUE);
}

static int m(const char *p, const char *n)
{
    return pkie_xfer_name_match(p, n, strlen(n));
}

static void test_match(void **state)
{
    (void)state;
    assert_true(m("*", "anything.bin"));
    assert_true(m("*.csv", "a.csv"));
    assert_false(m("*.csv", "a.csv.part"));
    assert_false(m("*.csv", "a.CSV")); /* case-sensitive */
    assert_true(m("a*b*c", "a-b-b-c"));
    assert_false(m("a*b*c", "a-b-b-"));
    assert_true(m("a*b*c", "abc"));
    assert_true(m("??", "ab"));
    assert_false(m("??", "abc"));
    assert_false(m("??", "a"));
    assert_true(m("x?z", "x\xc3\xa9z"));         /* '?': one character of two bytes */
    assert_true(m("x?z", "x\xe2\x82\xacz"));     /* of three */
    assert_true(m("x?z", "x\xf0\x9f\x98\x80z")); /* of four */
    assert_false(m("x??z", "x\xc3\xa9z"));       /* not two */
    assert_true(m("*?", "\xc3\xa9"));            /* '*' takes none, '?' the one */
    assert_false(m("*??", "\xc3\xa9"));
    assert_true(m("\xc3\xa9t\xc3\xa9-*", "\xc3\xa9t\xc3\xa9-2026"));
    assert_false(m("\xc3\xa9t\xc3\xa9-*", "ete-2026"));
    assert_true(m("**a**", "bab"));
    assert_false(m("abc", "ab"));
    assert_false(m("ab", "abc"));
    /* a hostile pattern/name pair: one backtrack point, no blow-up (a
     * naive recursive matcher tries every split of 255 a's among 8 stars) */
    char n[PKIE_XFER_NAME_MAX + 1];
    memset(n, 'a', PKIE_XFER_NAME_MAX);
    n[PKIE_XFER_NAME_MAX] = '\0';
    assert_false(m("*a*a*a*a*a*a*a*a*b", n));
    n[PKIE_XFER_NAME_MAX - 1] = 'b';
    assert_true(m("*a*a*a*a*a*a*a*a*b", n));
    /* the allow list */
    const char *const pats[] = {"*.csv", "in-??"};
    assert_true(pkie_xfer_names_allowed(pats, 2, "x.csv", 5));
    assert_true(pkie_xfer_names_allowed(pats, 2, "in-01", 5));
    assert_false(pkie_xfer_names_allowed(pats, 2, "in-001", 6));
    assert_true(pkie_xfer_names_allowed(NULL, 0, "whatever", 8));
    /* a NUL inside the name's bytes never matches a prefix */
    assert_false(pkie_xfer_name_match("ab", "ab\0c", 4));
    assert_false(pkie_xfer_names_allowed(pats, 2, "x.csv\0.exe", 10));
}

/* On ASCII, where '?' is one byte, the matcher agrees with fnmatch(3)
 * (C locale, FNM_NOESCAPE) on every small pattern and name. */
static void test_match_vs_fnmatch(void **state)
{
    (void)state;
    const char alpha[] = "ab*?";
    char p[8], n[8];
    unsigned checked = 0;
    for (unsigned plen = 1; plen <= 5; plen++) {
        unsigned pcount = 1;
        for (unsigned i = 0; i < plen; i++)
            pcount *= 4;
        for (unsigned pi = 0; pi < pcount; pi++) {
            for (unsigned i = 0, v = pi; i < plen; i++, v /= 4)
                p[i] = alpha[v % 4];
            p[plen] = '\0';
            for (unsigned nlen = 1; nlen <= 6; nlen++)
                for (unsigned ni = 0; ni < (1u << nlen); ni++) {
                    for (unsigned i = 0; i < nlen; i++)
                        n[i] = (ni >> i) & 1 ? 'b' : 'a';
                    n[nlen] = '\0';
                    int want = fnmatch(p, n, FNM_NOESCAPE) == 0;
                    if (m(p, n) != want)
                        fail_msg("pattern '%s' name '%s': fnmatch says %d", p, n, want);
                    checked++;
                }
        }
    }
    assert_true(checked > 100000);
}

/* ---- configuration keys ----------------------------------------------------- */

static void test_conf_keys(void **state)
{
    (void)state;
    struct pkie_xfer_conf c;
    const char *text = "dir = /srv/in\n"
                       "partner.acme.subject = CN=*,O=Acme\n"
                       "partner.acme.names = *.csv ,  report-??.txt,x\n"
                       "partner.globex.subject = CN=g,O=Globex\n"
                       "partner.globex.dir = /data/globex//\n"
                       "partner.root.subject = CN=r,O=R\n"
                       "partner.root.dir = /\n";
    assert_int_equal(pkie_xfer_conf_parse(text, "t.conf", &c), 0);
    const struct pkie_xfer_partner *a = pkie_xfer_conf_partner(&c, "acme");
    const struct pkie_xfer_partner *g = pkie_xfer_conf_partner(&c, "globex");
    const struct pkie_xfer_partner *r = pkie_xfer_conf_partner(&c, "root");
    assert_non_null(a);
    assert_non_null(g);
    assert_int_equal(a->n_names, 3);
    assert_string_equal(a->names[0], "*.csv");
    assert_string_equal(a->names[1], "report-??.txt");
    assert_string_equal(a->names[2], "x");
    assert_null(a->dir);
    assert_int_equal(a->dirfd, -1);
    assert_string_equal(g->dir, "/data/globex");
    assert_int_equal(g->n_names, 0);
    assert_string_equal(r->dir, "/");
    char path[256];
    assert_int_equal(pkie_xfer_partner_dir_path(&c, a, path, sizeof(path)), 0);
    assert_string_equal(path, "/srv/in/acme");
    assert_int_equal(pkie_xfer_partner_dir_path(&c, g, path, sizeof(path)), 0);
    assert_string_equal(path, "/data/globex");
    assert_int_equal(pkie_xfer_partner_dir_path(&c, a, path, 8), PKIE_ERR_LIMIT);
    pkie_xfer_conf_free(&c);

    /* no dir: the default has no parent */
    assert_int_equal(pkie_xfer_conf_parse("partner.a.subject = CN=a\n", "t", &c), 0);
    assert_int_equal(pkie_xfer_partner_dir_path(&c, &c.partners[0], path, sizeof(path)),
                     PKIE_ERR_CONF_MISSING);
    pkie_xfer_conf_free(&c);
}

static void test_conf_keys_negative(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        const char *msg;
    } bad[] = {
        {"partner.a.names = *.csv,,x\n", PKIE_ERR_CONF_VALUE, "empty"},
        {"partner.a.names = *.csv,\n", PKIE_ERR_CONF_VALUE, "empty"},
        {"partner.a.names = ' , '\n", PKIE_ERR_CONF_VALUE, "empty"},
        {"partner.a.names = \n", PKIE_ERR_CONF_VALUE, "empty"},
        {"partner.a.names = [a-z]*\n", PKIE_ERR_CONF_VALUE, "character classes"},
        {"partner.a.names = in/*\n", PKIE_ERR_CONF_VALUE, "separator"},
        {"partner.a.names = .*\n", PKIE_ERR_CONF_VALUE, "dot"},
        {"partner.a.names = a\\\\*\n", PKIE_ERR_CONF_VALUE, "escape"},
        {"partner.a.names = *\npartner.a.names = x\n", PKIE_ERR_CONF_DUPLICATE, "twice"},
        {"partner.a.dir = /x\npartner.a.dir = /y\n", PKIE_ERR_CONF_DUPLICATE, "twice"},
        {"partner.a.dir = ''\n", PKIE_ERR_CONF_VALUE, "directory"},
        {"partner.a.dir.x = /y\n", PKIE_ERR_CONF_UNKNOWN_KEY, "unknown"},
        {"partner.a.namez = *\n", PKIE_ERR_CONF_UNKNOWN_KEY, "unknown"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pkie_xfer_conf c;
        int rc = pkie_xfer_conf_parse(bad[i].text, "t", &c);
        if (rc != bad[i].rc || strstr(pkie_err_last()->msg, bad[i].msg) == NULL)
            fail_msg("'%s': %d '%s', expected %d '%s'", bad[i].text, rc, pkie_err_last()->msg,
                     bad[i].rc, bad[i].msg);
        pkie_xfer_conf_free(&c);
    }
    /* at most PKIE_XFER_NAME_PATTERNS_MAX patterns */
    char text[1024] = "partner.a.names = ";
    for (int i = 0; i <= PKIE_XFER_NAME_PATTERNS_MAX; i++)
        strcat(text, i ? ",p*" : "p*");
    strcat(text, "\n");
    struct pkie_xfer_conf c;
    assert_int_equal(pkie_xfer_conf_parse(text, "t", &c), PKIE_ERR_CONF_VALUE);
    pkie_xfer_conf_free(&c);
    text[strlen(text) - 4] = '\n'; /* one fewer */
    text[strlen(text) - 3] = '\0';
    assert_int_equal(pkie_xfer_conf_parse(text, "t", &c), 0);
    assert_int_equal(c.partners[0].n_names, PKIE_XFER_NAME_PATTERNS_MAX);
    pkie_xfer_conf_free(&c);

    assert_int_equal(pkie_xfer_partner_name_check("acme-1_x"), 0);
    assert_int_equal(pkie_xfer_partner_name_check(".."), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_xfer_partner_name_check(".acme"), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_xfer_partner_name_check("a/b"), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_xfer_partner_name_check(""), PKIE_ERR_CONF_VALUE);
    assert_int_equal(pkie_xfer_partner_name_check("a\nb"), PKIE_ERR_CONF_VALUE);
}

/* ---- directories -------------------------------------------------------------- */

struct fx {
    char dir[64];
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    strcpy(x->dir, "/tmp/pkie-pdirs-XXXXXX");
    if (x == NULL || mkdtemp(x->dir) == NULL)
        return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    tmptree_remove(x->dir);
    free(x);
    return 0;
}

static int load(struct fx *x, const char *extra, struct pkie_xfer_conf *c)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "dir = %s\n"
             "partner.acme.subject = CN=a\n"
             "partner.globex.subject = CN=g\n"
             "partner.globex.dir = %s/g-in\n"
             "partner.out.address = h:1\n"
             "%s",
             x->dir, x->dir, extra);
    return pkie_xfer_conf_parse(text, "t", c);
}

static mode_t mode_of(const char *dir, const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return lstat(p, &st) == 0 ? st.st_mode : 0;
}

static void test_dirs_open(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_conf c;
    assert_int_equal(load(x, "", &c), 0);
    /* without create: nothing is made, nothing open */
    assert_int_equal(pkie_xfer_partner_dirs_open(&c, 0), 0);
    assert_int_equal(c.partners[0].dirfd, -1);
    assert_int_equal(mode_of(x->dir, "acme"), 0);
    /* created 0750 exactly, whatever the umask */
    mode_t old = umask(0077);
    assert_int_equal(pkie_xfer_partner_dirs_open(&c, 1), 0);
    umask(old);
    assert_true(c.partners[0].dirfd >= 0);
    assert_true(c.partners[1].dirfd >= 0);
    assert_int_equal(c.partners[2].dirfd, -1); /* a partner we only send to */
    assert_int_equal(mode_of(x->dir, "acme"), S_IFDIR | 0750);
    assert_int_equal(mode_of(x->dir, "g-in"), S_IFDIR | 0750);
    assert_int_equal(mode_of(x->dir, "out"), 0);
    /* the descriptors are the directories themselves */
    assert_int_equal(mkdirat(c.partners[0].dirfd, "probe", 0700), 0);
    assert_int_equal(mode_of(x->dir, "acme/probe"), S_IFDIR | 0700);
    char p[256];
    snprintf(p, sizeof(p), "%s/acme/probe", x->dir);
    assert_int_equal(rmdir(p), 0);
    /* existing, with its own mode: kept; opened again */
    snprintf(p, sizeof(p), "%s/acme", x->dir);
    assert_int_equal(chmod(p, 0770), 0);
    assert_int_equal(pkie_xfer_partner_dirs_open(&c, 1), 0);
    assert_int_equal(mode_of(x->dir, "acme"), S_IFDIR | 0770);
    pkie_xfer_conf_free(&c);
    assert_int_equal(c.n_partners, 0);
}

static void expect_refused(struct fx *x, const char *extra, const char *why)
{
    struct pkie_xfer_conf c;
    assert_int_equal(load(x, extra, &c), 0);
    int rc = pkie_xfer_partner_dirs_open(&c, 1);
    if (rc == 0 || strstr(pkie_err_last()->msg, why) == NULL)
        fail_msg("expected '%s', got %d '%s'", why, rc, rc ? pkie_err_last()->msg : "");
    for (size_t i = 0; i < c.n_partners; i++)
        assert_int_equal(c.partners[i].dirfd, -1); /* nothing left open */
    pkie_xfer_conf_free(&c);
}

static void test_dirs_refused(void **state)
{
    struct fx *x = *state;
    char p[256], q[256];
    /* DIR/acme a symbolic link to a directory */
    snprintf(p, sizeof(p), "%s/elsewhere", x->dir);
    snprintf(q, sizeof(q), "%s/acme", x->dir);
    assert_int_equal(mkdir(p, 0750), 0);
    assert_int_equal(symlink(p, q), 0);
    expect_refused(x, "", "symbolic link");
    /* a dangling one is not followed to create its target either */
    unlink(q);
    snprintf(p, sizeof(p), "%s/nowhere", x->dir);
    assert_int_equal(symlink(p, q), 0);
    expect_refused(x, "", "symbolic link");
    assert_int_equal(mode_of(x->dir, "nowhere"), 0);
    unlink(q);
    /* a file */
    int fd = open(q, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    expect_refused(x, "", "not a directory");
    unlink(q);
    /* writable by others */
    assert_int_equal(mkdir(q, 0750), 0);
    assert_int_equal(chmod(q, 01777), 0);
    expect_refused(x, "", "writable by others");
    rmdir(q);
    /* an explicit directory whose parent is missing */
    snprintf(p, sizeof(p), "partner.acme.dir = %s/no/such\n", x->dir);
    expect_refused(x, p, "cannot create");
    /* an explicit symbolic link, also with a trailing '/' */
    snprintf(p, sizeof(p), "%s/elsewhere", x->dir);
    snprintf(q, sizeof(q), "%s/link", x->dir);
    assert_int_equal(symlink(p, q), 0);
    snprintf(p, sizeof(p), "partner.acme.dir = %s/link/\n", x->dir);
    expect_refused(x, p, "symbolic link");
    /* no DIR to put DIR/NAME in */
    struct pkie_xfer_conf c;
    assert_int_equal(pkie_xfer_conf_parse("partner.a.subject = CN=a\n", "t", &c), 0);
    assert_int_equal(pkie_xfer_partner_dirs_open(&c, 1), PKIE_ERR_CONF_MISSING);
    pkie_xfer_conf_free(&c);
}

struct seen {
    char list[8][128];
    int fds[8];
    int n;
};

static int visit(void *arg, int dirfd, const char *partners)
{
    struct seen *s = arg;
    snprintf(s->list[s->n], sizeof(s->list[0]), "%s", partners);
    s->fds[s->n++] = dirfd;
    return 0;
}

static void test_inboxes(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_conf c;
    char extra[512];
    /* zeta shares globex's directory; acme's is its own */
    snprintf(extra, sizeof(extra),
             "partner.zeta.subject = CN=z\n"
             "partner.zeta.dir = %s/g-in\n",
             x->dir);
    assert_int_equal(load(x, extra, &c), 0);
    assert_int_equal(pkie_xfer_partner_dirs_open(&c, 1), 0);
    int dfd = open(x->dir, O_RDONLY | O_DIRECTORY);
    struct seen s = {0};
    assert_int_equal(pkie_xfer_inboxes_each(&c, dfd, NULL, visit, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.list[0], "acme");
    assert_string_equal(s.list[1], "globex,zeta");
    assert_string_equal(s.list[2], "-");
    assert_int_equal(s.fds[2], dfd);
    memset(&s, 0, sizeof(s));
    assert_int_equal(pkie_xfer_inboxes_each(&c, dfd, "zeta", visit, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.list[0], "globex,zeta");
    assert_int_equal(pkie_xfer_inboxes_each(&c, dfd, "nobody", visit, &s), PKIE_ERR_NOT_FOUND);
    assert_int_equal(pkie_xfer_inboxes_each(&c, dfd, "out", visit, &s), PKIE_ERR_NOT_FOUND);
    pkie_xfer_conf_free(&c);
    /* the old layout, kept explicitly: DIR is acme's directory, visited once */
    snprintf(extra, sizeof(extra), "partner.acme.dir = %s/\n", x->dir);
    assert_int_equal(load(x, extra, &c), 0);
    assert_int_equal(pkie_xfer_partner_dirs_open(&c, 1), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(pkie_xfer_inboxes_each(&c, dfd, NULL, visit, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.list[0], "acme");
    assert_string_equal(s.list[1], "globex");
    pkie_xfer_conf_free(&c);
    close(dfd);
}

/* Two partners send the same name at the same time, each into its own
 * directory: no reservation between them, both land, each its own data. */
static void test_same_name_two_partners(void **state)
{
    struct fx *x = *state;
    struct pkie_xfer_conf c;
    assert_int_equal(load(x, "", &c), 0);
    assert_int_equal(pkie_xfer_partner_dirs_open(&c, 1), 0);
    struct pkie_xfer_recv_conf rc[2];
    struct pkie_xfer_rfile *rf[2];
    uint8_t data[2][4096], sha[2][32];
    for (int i = 0; i < 2; i++) {
        pkie_xfer_recv_conf_init(&rc[i], c.partners[i].dirfd);
        rc[i].direct_io = 0;
        memset(data[i], 'A' + i, sizeof(data[i]));
        unsigned len = 0;
        EVP_Digest(data[i], sizeof(data[i]), sha[i], &len, EVP_sha256(), NULL);
        struct pkie_xfer_file f = {.size = sizeof(data[i]), .mode = 0640};
        memset(f.tid, 0x10 + i, sizeof(f.tid));
        strcpy(f.name, "orders.csv");
        f.name_len = strlen(f.name);
        uint64_t off = 1;
        assert_int_equal(pkie_xfer_rfile_open(&rc[i], &f, &rf[i], &off), 0);
        assert_int_equal(off, 0);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pkie_xfer_rfile_write(rf[i], data[i], sizeof(data[i])), 0);
    /* each directory lists its own partial only */
    for (int i = 0; i < 2; i++) {
        struct pkie_xfer_partial *v = NULL;
        size_t n = 0;
        assert_int_equal(pkie_xfer_partials_list(c.partners[i].dirfd, 0, 0, &v, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].tid[1], i == 0 ? '0' : '1');
        assert_int_equal(v[0].in_use, 1);
        free(v);
    }
    for (int i = 1; i >= 0; i--) {
        assert_int_equal(pkie_xfer_rfile_finish(rf[i], sha[i]), 0);
        pkie_xfer_rfile_close(rf[i]);
    }
    const char *where[2] = {"acme/orders.csv", "g-in/orders.csv"};
    for (int i = 0; i < 2; i++) {
        char p[256], got[4096];
        snprintf(p, sizeof(p), "%s/%s", x->dir, where[i]);
        int fd = open(p, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)sizeof(got));
        close(fd);
        assert_memory_equal(got, data[i], sizeof(got));
    }
    assert_int_equal(mode_of(x->dir, "orders.csv"), 0); /* never in DIR */
    /* the same partner's second transfer of that name is still reserved */
    struct pkie_xfer_file f = {.size = 10, .mode = 0640};
    memset(f.tid, 0x30, sizeof(f.tid));
    strcpy(f.name, "next");
    f.name_len = 4;
    uint64_t off = 0;
    assert_int_equal(pkie_xfer_rfile_open(&rc[0], &f, &rf[0], &off), 0);
    memset(f.tid, 0x31, sizeof(f.tid));
    assert_int_equal(pkie_xfer_rfile_open(&rc[0], &f, &rf[1], &off), PKIE_ERR_XFER_RESERVED);
    assert_int_equal(pkie_xfer_rfile_open(&rc[1], &f, &rf[1], &off), 0); /* other partner: free */
    pkie_xfer_rfile_abandon(rf[0]);
    pkie_xfer_rfile_close(rf[0]);
    pkie_xfer_rfile_abandon(rf[1]);
    pkie_xfer_rfile_close(rf[1]);
    /* a name outside the partner's patterns: DENIED, and the directory untouched */
    static const char *const pats[] = {"*.csv"};
    rc[0].names = pats;
    rc[0].n_names = 1;
    memset(f.tid, 0x32, sizeof(f.tid));
    assert_int_equal(pkie_xfer_rfile_open(&rc[0], &f, &rf[0], &off), PKIE_ERR_XFER_DENIED);
    assert_true(pkie_xfer_error_is_file_level(PKIE_ERR_XFER_DENIED));
    /* a NUL inside the name's bytes (as FILE may carry it): refused as a name
     * before any pattern sees the part before the NUL ("x" + ".csv") */
    memcpy(f.name, "x\0.csv", 7);
    f.name_len = 6;
    assert_int_equal(pkie_xfer_rfile_open(&rc[0], &f, &rf[0], &off), PKIE_ERR_XFER_NAME);
    memcpy(f.name, "x.csv\0.exe", 11);
    f.name_len = 10;
    assert_int_equal(pkie_xfer_rfile_open(&rc[0], &f, &rf[0], &off), PKIE_ERR_XFER_NAME);
    DIR *d = fdopendir(dup(c.partners[0].dirfd));
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    assert_int_equal(entries, 1); /* orders.csv */
    pkie_xfer_conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_check),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_match_vs_fnmatch),
        cmocka_unit_test(test_conf_keys),
        cmocka_unit_test(test_conf_keys_negative),
        cmocka_unit_test_setup_teardown(test_dirs_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirs_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inboxes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_name_two_partners, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
