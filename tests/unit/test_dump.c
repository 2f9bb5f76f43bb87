/*
 * test_dump: the dump model: states and formats with their names, dump ids
 * (generated ones pass the check, malformed ones do not), VM-name rules and the
 * path component a VM name becomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dump.h"

static void test_states_and_formats(void **state)
{
	enum dump_state st;
	enum dump_format f;
	struct err e;

	(void)state;
	for (int i = 0; i < DUMP_STATE__MAX; i++) {
		assert_int_equal(dump_state_parse(dump_state_name((enum dump_state)i), &st), 0);
		assert_int_equal(st, i);
	}
	assert_int_equal(dump_state_parse("exploded", &st), -1);
	assert_true(dump_state_is_final(DUMP_COMPLETED));
	assert_false(dump_state_is_final(DUMP_RUNNING));
	assert_int_equal(dump_format_parse("kdump-zlib", &f, &e), 0);
	assert_int_equal(f, DUMP_FMT_KDUMP_ZLIB);
	assert_int_equal(dump_format_parse("raw", &f, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "elf")); /* the message names what is allowed */
}

static void test_ids(void **state)
{
	char id[DUMP_ID_SIZE], other[DUMP_ID_SIZE];
	struct err e;

	(void)state;
	dump_id_new(id, (time_t)1795372200);
	dump_id_new(other, (time_t)1795372200);
	assert_int_equal(strlen(id), DUMP_ID_LEN);
	assert_int_equal(dump_id_check(id, &e), 0);
	assert_memory_equal(id, "2026", 4);
	assert_string_not_equal(id, other); /* 48 random bits */
	assert_int_equal(dump_id_check("20261122T183000Z-0123456789ab", &e), 0);
	assert_int_equal(dump_id_check("20261122T183000Z-0123456789AB", &e), -1);
	assert_int_equal(dump_id_check("20261122T183000Z-0123456789a", &e), -1);
	assert_int_equal(dump_id_check("../../../etc/passwd", &e), -1);
	assert_int_equal(dump_id_check("", &e), -1);
}

static void test_vm_names(void **state)
{
	char long_name[DUMP_VM_NAME_MAX + 2];
	struct err e;

	(void)state;
	assert_int_equal(dump_vm_name_check("web-server", 10, &e), 0);
	assert_int_equal(dump_vm_name_check("caf\xc3\xa9", 5, &e), 0);
	assert_int_equal(dump_vm_name_check("a\\b", 3, &e), -1); /* InfluxDB tags */
	assert_int_equal(dump_vm_name_check("a/b", 3, &e), -1);
	assert_int_equal(dump_vm_name_check("..", 2, &e), -1);
	assert_int_equal(dump_vm_name_check(".", 1, &e), -1);
	assert_int_equal(dump_vm_name_check("", 0, &e), -1);
	assert_int_equal(dump_vm_name_check("a\0b", 3, &e), -1);
	assert_int_equal(dump_vm_name_check("a\nb", 3, &e), -1);
	assert_int_equal(dump_vm_name_check("\xff\xfe", 2, &e), -1);
	assert_int_equal(dump_vm_name_check("\xc0\xaf", 2, &e), -1); /* overlong '/' */
	memset(long_name, 'a', sizeof(long_name));
	assert_int_equal(dump_vm_name_check(long_name, DUMP_VM_NAME_MAX, &e), 0);
	assert_int_equal(dump_vm_name_check(long_name, DUMP_VM_NAME_MAX + 1, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
}

static void test_user_names(void **state)
{
	char long_name[DUMP_USER_MAX + 2];
	struct err e;

	(void)state;
	assert_int_equal(dump_user_check("alice", 5, &e), 0);
	assert_int_equal(dump_user_check("a.b_c-d@corp.example", 20, &e), 0);
	assert_int_equal(dump_user_check("", 0, &e), -1);
	assert_int_equal(dump_user_check("a b", 3, &e), -1);
	assert_int_equal(dump_user_check("a\0b", 3, &e), -1);
	assert_int_equal(dump_user_check("a'b", 3, &e), -1);
	assert_int_equal(dump_user_check("a/b", 3, &e), -1);
	assert_int_equal(dump_user_check("jos\xc3\xa9", 5, &e), -1);
	memset(long_name, 'a', sizeof(long_name));
	assert_int_equal(dump_user_check(long_name, DUMP_USER_MAX, &e), 0);
	assert_int_equal(dump_user_check(long_name, DUMP_USER_MAX + 1, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
}

static void test_path_component(void **state)
{
	char out[DUMP_VM_NAME_MAX + 1];

	(void)state;
	dump_vm_path_component("web-server.1_a", out);
	assert_string_equal(out, "web-server.1_a");
	dump_vm_path_component(".hidden", out);
	assert_string_equal(out, "_hidden");
	dump_vm_path_component("a b\\c", out);
	assert_string_equal(out, "a_b_c");
}

/* One decoder step: dump_utf8_seq takes every scalar value, dump_utf8_len also
 * refuses C1 controls. */
static void test_utf8_step(void **state)
{
	const unsigned char c1[] = {0xc2, 0x85}, e9[] = {0xc3, 0xa9}, euro[] = {0xe2, 0x82, 0xac},
	                    overlong[] = {0xc0, 0xaf}, surrogate[] = {0xed, 0xa0, 0x80},
	                    big[] = {0xf4, 0x90, 0x80, 0x80};
	unsigned cp = 0;

	(void)state;
	assert_int_equal(dump_utf8_seq(c1, 2, &cp), 2);
	assert_int_equal(cp, 0x85);
	assert_int_equal(dump_utf8_len(c1, 2), 0);
	assert_int_equal(dump_utf8_len(e9, 2), 2);
	assert_int_equal(dump_utf8_seq(euro, 3, &cp), 3);
	assert_int_equal(cp, 0x20ac);
	assert_int_equal(dump_utf8_seq(euro, 2, NULL), 0);
	assert_int_equal(dump_utf8_seq(overlong, 2, NULL), 0);
	assert_int_equal(dump_utf8_seq(surrogate, 3, NULL), 0);
	assert_int_equal(dump_utf8_seq(big, 4, NULL), 0);
	assert_int_equal(dump_utf8_seq((const unsigned char *)"\x80", 1, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_states_and_formats), cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_vm_names),           cmocka_unit_test(test_user_names),
	    cmocka_unit_test(test_path_component),     cmocka_unit_test(test_utf8_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
