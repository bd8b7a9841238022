/* Unit tests of the pkie executable's lazily loaded SQLite
 * (apps/pkie/sqlite_lazy.c), built into this test without libsqlite3 linked:
 * the forwarded functions work on a real database once the library is
 * loaded (test_sqlite_lazy), and when it cannot be loaded
 * (test_sqlite_lazy_missing, built with SQLITE_SONAME naming a library that
 * does not exist) opening fails with SQLITE_CANTOPEN and dlopen's reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <string.h>

#ifndef EXPECT_MISSING
static void test_forwarded(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_extended_result_codes(db, 1), SQLITE_OK);
    assert_int_equal(sqlite3_busy_timeout(db, 100), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE t(a INTEGER, b TEXT, c BLOB)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?,?,?)", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(st, 1, 42), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 2, "x", -1, SQLITE_TRANSIENT), SQLITE_OK);
    assert_int_equal(sqlite3_bind_blob(st, 3, "yz", 2, SQLITE_TRANSIENT), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT a, b, c FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 42);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "x");
    assert_int_equal(sqlite3_column_bytes(st, 2), 2);
    assert_memory_equal(sqlite3_column_blob(st, 2), "yz", 2);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    /* errors come through as SQLite words them */
    assert_int_not_equal(sqlite3_exec(db, "SELECT nope FROM t", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_errcode(db), SQLITE_ERROR);
    assert_non_null(strstr(sqlite3_errmsg(db), "nope"));
    assert_string_equal(sqlite3_errstr(SQLITE_BUSY), "database is locked");
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?,?,?)", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_null(st, 1), SQLITE_OK);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}
#else
static void test_forwarded(void **state)
{
    (void)state;
    sqlite3 *db = (sqlite3 *)&db;
    assert_int_equal(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_CANTOPEN);
    assert_null(db);
    assert_non_null(strstr(sqlite3_errmsg(NULL), "cannot load libpkie-no-such-sqlite.so.0: "));
    assert_string_equal(sqlite3_errstr(SQLITE_CANTOPEN), sqlite3_errmsg(NULL));
    assert_int_equal(sqlite3_close(NULL), SQLITE_OK);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forwarded)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
