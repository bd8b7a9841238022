/* Unit tests: file name checks, partial names, hex, audit JSON escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pkie/error.h"
#include "pkie/transfer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int chk(const char *s)
{
    return pkie_xfer_name_check(s, strlen(s));
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(chk("report.csv"), 0);
    assert_int_equal(chk("a"), 0);
    assert_int_equal(chk("Grüße-2026 (1).txt"), 0);
    assert_int_equal(chk("日本語.dat"), 0);
    assert_int_equal(chk("x."), 0);

    assert_int_equal(chk(""), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("."), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk(".."), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk(".hidden"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("a/b"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("/etc/passwd"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("..\\boot.ini"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("a\\b"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("a..b"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("tab\there"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("nl\n"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("esc\x1b[31m"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("del\x7f"), PKIE_ERR_XFER_NAME);
    assert_int_equal(pkie_xfer_name_check("nul\0x", 5), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("bad\xff"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("overlong\xc0\xaf"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("surrogate\xed\xa0\x80"), PKIE_ERR_XFER_NAME);
    assert_int_equal(chk("cut\xe6\x97"), PKIE_ERR_XFER_NAME);

    char longname[300];
    memset(longname, 'n', sizeof(longname));
    longname[255] = '\0';
    assert_int_equal(chk(longname), 0);
    longname[255] = 'n';
    longname[256] = '\0';
    assert_int_equal(chk(longname), PKIE_ERR_XFER_NAME);
}

static void test_partial_name(void **state)
{
    (void)state;
    uint8_t tid[16];
    for (int i = 0; i < 16; i++)
        tid[i] = (uint8_t)i;
    char out[300];
    assert_int_equal(pkie_xfer_partial_name("f.txt", tid, "part", out, sizeof(out)), 0);
    assert_string_equal(out, ".f.txt.000102030405060708090a0b0c0d0e0f.part");
    char longname[256];
    memset(longname, 'n', 255);
    longname[255] = '\0';
    assert_int_equal(pkie_xfer_partial_name(longname, tid, "state", out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 255);
    assert_non_null(strstr(out, ".000102030405060708090a0b0c0d0e0f.state"));
    /* multibyte characters are not cut in the middle */
    char mb[256] = "";
    for (int i = 0; i < 85; i++)
        strcat(mb, "\xe6\x97\xa5");
    assert_int_equal(pkie_xfer_partial_name(mb, tid, "part", out, sizeof(out)), 0);
    assert_true(strlen(out) <= 255);
    assert_int_equal(pkie_xfer_name_check(out + 1, strlen(out) - 1 - 38), 0);
    assert_int_equal(pkie_xfer_partial_name("f", tid, "part", out, 10), PKIE_ERR_LIMIT);
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t in[3] = {0x00, 0xab, 0xff}, back[3];
    char h[7];
    assert_string_equal(pkie_xfer_hex(in, 3, h), "00abff");
    assert_int_equal(pkie_xfer_unhex("00ABff", back, 3), 0);
    assert_memory_equal(in, back, 3);
    assert_int_equal(pkie_xfer_unhex("00ab", back, 3), PKIE_ERR_ARG);
    assert_int_equal(pkie_xfer_unhex("00abfg", back, 3), PKIE_ERR_ARG);
}

static void test_json_escape(void **state)
{
    (void)state;
    char *b = NULL;
    size_t l = 0, c = 0;
    const char in[] = "q\"b\\n\nt\tc\x01z\x7f\xff\xc3\xa9";
    assert_int_equal(pkie_xfer_json_escape(&b, &l, &c, in, sizeof(in) - 1), 0);
    assert_string_equal(b, "q\\\"b\\\\n\\nt\\tc\\u0001z\\u007f\\udcff\xc3\xa9");
    assert_int_equal(l, strlen(b));
    free(b);
}

/* Names are audited losslessly: NUL inside a name, a byte that is not UTF-8,
 * the same character as valid UTF-8, and a cut name all differ. */
static void test_audit_lossless_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t len;
        const char *want;
    } cases[] = {
        {"a\0b", 3, "\"file\":\"a\\u0000b\""},
        {"a", 1, "\"file\":\"a\""},
        {"x\xe9y", 3, "\"file\":\"x\\udce9y\""},                   /* Latin-1 e-acute byte */
        {"x\xc3\xa9y", 4, "\"file\":\"x\xc3\xa9y\""},              /* U+00E9 as UTF-8 */
        {"x\\u00e9y", 8, "\"file\":\"x\\\\u00e9y\""},              /* the text \u00e9 */
        {"\xed\xb3\xa9", 3, "\"file\":\"\\udced\\udcb3\\udca9\""}, /* UTF-8 of a surrogate */
        {"\xc3", 1, "\"file\":\"\\udcc3\""},                       /* cut sequence */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pkie_xfer_audit_rec r = {.file = cases[i].name, .file_len = cases[i].len};
        char *line = NULL;
        size_t len = 0;
        assert_int_equal(pkie_xfer_audit_format(&r, &line, &len), 0);
        if (strstr(line, cases[i].want) == NULL)
            fail_msg("case %zu: %s lacks %s", i, line, cases[i].want);
        free(line);
    }
    /* file_len 0: up to the NUL, as before */
    struct pkie_xfer_audit_rec r = {.file = "plain"};
    char *line = NULL;
    size_t len = 0;
    assert_int_equal(pkie_xfer_audit_format(&r, &line, &len), 0);
    assert_non_null(strstr(line, "\"file\":\"plain\""));
    free(line);
}

static void test_audit_record(void **state)
{
    (void)state;
    uint8_t ga[64], tid[16], sha[32];
    memset(ga, 0x5a, sizeof(ga));
    memset(tid, 0x11, sizeof(tid));
    memset(sha, 0x22, sizeof(sha));
    struct pkie_xfer_peer peer = {
        .partner = "acme",
        .addr = "127.0.0.1:4000",
        .subject = "CN=a \"quoted\",O=x",
        .issuer = "CN=CA",
        .serial = "0A1B",
        .tls_version = "TLSv1.3",
        .cipher = "TLS_AES_128_GCM_SHA256",
        .global_area = ga,
    };
    struct pkie_xfer_audit_rec r = {
        .peer = &peer,
        .file = "evil\n\"name",
        .tid = tid,
        .size = 10,
        .bytes = 7,
        .resume_offset = 3,
        .sha256 = sha,
        .duration_ms = 12,
        .result = "ok",
    };
    char *line = NULL;
    size_t len = 0;
    assert_int_equal(pkie_xfer_audit_format(&r, &line, &len), 0);
    assert_null(memchr(line, '\n', len));
    assert_non_null(strstr(line, "\"partner\":\"acme\""));
    assert_non_null(strstr(line, "\"peer_subject\":\"CN=a \\\"quoted\\\",O=x\""));
    assert_non_null(strstr(line, "\"file\":\"evil\\n\\\"name\""));
    assert_non_null(strstr(line, "\"bytes\":7"));
    assert_non_null(strstr(line, "\"resume_offset\":3"));
    assert_non_null(strstr(line, "\"error\":null"));
    assert_non_null(strstr(line, "\"sha256\":\"2222222222222222222222222222222222222222222222222222"
                                 "222222222222\""));
    char gahex[129];
    for (int i = 0; i < 64; i++)
        memcpy(gahex + 2 * i, "5a", 2);
    gahex[128] = '\0';
    assert_non_null(strstr(line, gahex));
    free(line);

    /* written as one line to the audit file */
    char path[] = "/tmp/pkie-audit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct pkie_xfer_audit *a = NULL;
    assert_int_equal(pkie_xfer_audit_open(path, &a), 0);
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    r.peer = NULL;
    r.result = "refused";
    r.error = "XFER_NAME: bad";
    assert_int_equal(pkie_xfer_audit_write(a, &r), 0);
    pkie_xfer_audit_close(a);
    assert_int_equal(pkie_xfer_audit_write(NULL, &r), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[4096];
    int lines = 0;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        assert_int_equal(buf[0], '{');
        assert_int_equal(buf[strlen(buf) - 2], '}');
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 2);
    unlink(path);
    assert_int_equal(pkie_xfer_audit_open("/nonexistent/dir/audit.log", &a), PKIE_ERR_XFER_FILE);
}

/* A refused session's line: the certificate seen, the alert, the reason. */
static void test_audit_refusal(void **state)
{
    (void)state;
    struct pkie_xfer_peer p = {
        .addr = "127.0.0.1:4711", .subject = "CN=x\"y", .issuer = "CN=Root", .serial = "0A"};
    struct pkie_xfer_refusal r = {.peer = &p,
                                  .side = "receiver",
                                  .alert = 49,
                                  .alert_sent = 1,
                                  .reason = "no partner",
                                  .duration_ms = 12};
    char *line = NULL;
    size_t len = 0;
    assert_int_equal(pkie_xfer_audit_format_refusal(&r, &line, &len), 0);
    assert_int_equal(strlen(line), len);
    assert_non_null(strstr(line, "\"event\":\"refused\",\"side\":\"receiver\","
                                 "\"partner\":null,\"peer\":\"127.0.0.1:4711\","
                                 "\"peer_subject\":\"CN=x\\\"y\",\"peer_issuer\":\"CN=Root\","
                                 "\"peer_serial\":\"0A\",\"stage\":\"handshake\",\"alert\":49,"
                                 "\"alert_direction\":\"sent\",\"alert_name\":\"access_denied\","
                                 "\"duration_ms\":12,"
                                 "\"result\":\"refused\",\"error\":\"no partner\"}"));
    free(line);
    /* no certificate, no alert, no peer at all */
    r = (struct pkie_xfer_refusal){.alert = -1, .duration_ms = -1};
    assert_int_equal(pkie_xfer_audit_format_refusal(&r, &line, &len), 0);
    assert_non_null(strstr(line, "\"peer_subject\":null"));
    assert_non_null(strstr(line, "\"alert\":null,\"alert_direction\":null,\"alert_name\":null,"
                                 "\"duration_ms\":null"));
    assert_non_null(strstr(line, "\"error\":\"refused\""));
    free(line);
    /* an alert out of range is not written as one */
    r.alert = 300;
    assert_int_equal(pkie_xfer_audit_format_refusal(&r, &line, &len), 0);
    assert_non_null(strstr(line, "\"alert\":null"));
    free(line);
    /* a NULL sink writes nothing */
    assert_int_equal(pkie_xfer_audit_refusal(NULL, &r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_partial_name),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_audit_record),
        cmocka_unit_test(test_audit_refusal),
        cmocka_unit_test(test_audit_lossless_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
