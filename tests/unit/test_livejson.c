/*
 * test_livejson: the raw-JSON path of GET /status and /vms. rawjson (the
 * validating scanner, its member lookup and cuts, the compact copy, string
 * decoding) is checked against jansson on valid and invalid texts; livejson's
 * bodies are built from hand-made store_raw values and compared with the
 * expected documents (order, null for bad values, "latest" replaced).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fcgi/livejson.h"
#include "../../fcgi/rawjson.h"
#include "json_util.h"

static int scan(const char *s, bool *compact)
{
	return rawjson_object_scan(s, strlen(s), NULL, 0, compact);
}

static void test_scan_accepts(void **state)
{
	static const char *const ok[] = {
	    "{}",
	    " { } ",
	    "{\"a\":1}",
	    "{\"a\":[1,-2.5e+3,0,true,false,null,\"x\",{},[]]}",
	    "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}",
	    "{\"u\":\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
	    "{\"a\":1,\"a\":2}", /* duplicates of names not looked up are allowed */
	};
	bool compact;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(scan(ok[i], &compact), 0);
	assert_int_equal(scan("{\"a\":1}", &compact), 0);
	assert_true(compact);
	assert_int_equal(scan("{\"a\": 1}", &compact), 0);
	assert_false(compact);
}

static void test_scan_refuses(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "1",
	    "\"s\"",
	    "null",
	    "{",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\":1,}",
	    "{a:1}",
	    "{\"a\":01}",
	    "{\"a\":1.}",
	    "{\"a\":.5}",
	    "{\"a\":1e}",
	    "{\"a\":-}",
	    "{\"a\":tru}",
	    "{\"a\":[1,]}",
	    "{\"a\":1}x",
	    "{\"a\":1}{}",
	    "{\"a\":\"\\u0000\"}",
	    "{\"a\":\"\\ud800\"}",
	    "{\"a\":\"\\udc00\"}",
	    "{\"a\":\"\\ud800\\u0041\"}",
	    "{\"a\":\"\\x\"}",
	    "{\"a\":\"\\u12g4\"}",
	    "{\"a\":\"tab\there\"}",
	    "{\"a\":\"\xc0\xaf\"}",         /* overlong */
	    "{\"a\":\"\xed\xa0\x80\"}",     /* UTF-8 surrogate */
	    "{\"a\":\"\xf4\x90\x80\x80\"}", /* above U+10FFFF */
	    "{\"a\":\"\xe2\x82\"}",         /* truncated */
	    "{\"a\":\"\x80\"}",
	    "{\"a\":\"open}",
	};
	bool compact;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scan(bad[i], &compact) == 0)
			fail_msg("accepted: %s", bad[i]);
	}
	/* a NUL byte inside the text */
	assert_int_equal(rawjson_object_scan("{\"a\":\"\0\"}", 9, NULL, 0, &compact), -1);
}

/* {"a": k nested arrays}: 1 + k levels */
static int scan_nested(int k)
{
	char buf[512];
	size_t n = 0;
	bool compact;

	assert_true(k <= 250);
	memcpy(buf, "{\"a\":", 5);
	n = 5;
	for (int i = 0; i < k; i++)
		buf[n++] = '[';
	for (int i = 0; i < k; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	return rawjson_object_scan(buf, n, NULL, 0, &compact);
}

static void test_scan_depth(void **state)
{
	(void)state;
	assert_int_equal(scan_nested(31), 0); /* 32 levels: JSONU_MAX_DEPTH */
	assert_int_equal(scan_nested(32), -1);
	assert_int_equal(scan_nested(200), -1);
}

static void test_scan_members(void **state)
{
	const char *s = "{\"name\":\"vm-1\", \"latest\" : {\"x\":[1]} ,\"n\\u0061me2\":2,"
	                "\"o\":{\"name\":\"inner\"}}";
	struct rawjson_member m[3] = {{.name = "name"}, {.name = "latest"}, {.name = "name2"}};
	char out[256];
	size_t n;
	bool compact;

	(void)state;
	assert_int_equal(rawjson_object_scan(s, strlen(s), m, 3, &compact), 0);
	assert_false(compact);
	assert_true(m[0].found && m[1].found && m[2].found);
	assert_int_equal(m[0].val_len, 6);
	assert_memory_equal(s + m[0].val, "\"vm-1\"", 6);
	assert_memory_equal(s + m[1].val, "{\"x\":[1]}", m[1].val_len);
	assert_memory_equal(s + m[2].val, "2", 1);
	/* dropping "latest" (not first) takes the comma before it */
	n = rawjson_copy(out, s, m[1].cut, compact);
	n += rawjson_copy(out + n, s + m[1].cut + m[1].cut_len, strlen(s) - m[1].cut - m[1].cut_len,
	                  compact);
	out[n] = '\0';
	assert_string_equal(out,
	                    "{\"name\":\"vm-1\",\"n\\u0061me2\":2,\"o\":{\"name\":\"inner\"}}");
	/* dropping the first member takes the comma after it */
	n = rawjson_copy(out, s, m[0].cut, compact);
	n += rawjson_copy(out + n, s + m[0].cut + m[0].cut_len, strlen(s) - m[0].cut - m[0].cut_len,
	                  compact);
	out[n] = '\0';
	assert_string_equal(
	    out, "{\"latest\":{\"x\":[1]},\"n\\u0061me2\":2,\"o\":{\"name\":\"inner\"}}");
	/* a looked-up name twice is refused (jansson refuses every duplicate) */
	s = "{\"name\":1,\"name\":2}";
	assert_int_equal(rawjson_object_scan(s, strlen(s), m, 1, &compact), -1);
	s = "{\"name\":1}";
	assert_int_equal(rawjson_object_scan(s, strlen(s), m, 3, &compact), 0);
	assert_true(m[0].found);
	assert_false(m[1].found);
	assert_int_equal(m[0].cut, 1);
	assert_int_equal(m[0].cut_len, 8);
}

static void test_copy_compacts_like_jansson(void **state)
{
	const char *s = " {\n\t\"a\" : [ 1 , \"x y\\\" z\" , { } ] ,\r\n \"b\":null } ";
	char out[128];
	size_t n;
	bool compact;
	json_t *v;
	char *want;

	(void)state;
	assert_int_equal(scan(s, &compact), 0);
	assert_false(compact);
	n = rawjson_copy(out, s, strlen(s), compact);
	out[n] = '\0';
	v = json_loads(s, 0, NULL);
	want = jsonu_dump(v);
	assert_string_equal(out, want);
	free(want);
	json_decref(v);
}

static void test_string_decode(void **state)
{
	const char *p;
	char buf[16];
	size_t n;

	(void)state;
	assert_int_equal(rawjson_string_decode("\"plain\"", 7, buf, sizeof(buf), &p, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "plain", 5);
	assert_true(p != buf);
	assert_int_equal(
	    rawjson_string_decode("\"a\\n\\u00e9\\ud83d\\ude00\\/\"", 25, buf, sizeof(buf), &p, &n),
	    0);
	assert_int_equal(n, 9);
	assert_memory_equal(p, "a\n\xc3\xa9\xf0\x9f\x98\x80/", 9);
	assert_int_equal(rawjson_string_decode("\"\\u00e9\\u00e9\"", 14, buf, 3, &p, &n), -1);
	assert_int_equal(rawjson_string_decode("12", 2, buf, sizeof(buf), &p, &n), -1);
}

/* ---- livejson ---------------------------------------------------------------------- */

static struct store_bytes b(const char *s)
{
	struct store_bytes x = {s, s ? strlen(s) : 0};

	return x;
}

/* The body (not NUL-terminated) as a C string; frees it. */
static char *text0(char *body, size_t len)
{
	char *s = malloc(len + 1);

	assert_non_null(s);
	memcpy(s, body, len);
	s[len] = '\0';
	free(body);
	return s;
}

static void check_json(const char *body, size_t len, const char *want)
{
	json_error_t je;
	json_t *got = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	json_t *exp = json_loads(want, 0, NULL);

	if (got == NULL)
		fail_msg("not JSON (%s): %.*s", je.text, (int)len, body);
	assert_non_null(exp);
	if (!json_equal(got, exp))
		fail_msg("got %.*s\nwant %s", (int)len, body, want);
	json_decref(got);
	json_decref(exp);
}

static void test_status_body(void **state)
{
	struct store_pair active[] = {
	    {b("d2"), b("{\"dump_id\":\"d2\",\"created_at\":\"2026-01-02\"}")},
	    {b("bad"), b("{\"dump_id\":")},
	    {b("arr"), b("[1]")},
	    {b("d1"), b(" {\"dump_id\" : \"d1\", \"created_at\":\"2026-01-01\"} ")},
	    {b("d0"), b("{\"dump_id\":\"d0\",\"created_at\":\"2026-01-02\"}")},
	    {b("d3"), b("{\"dump_id\":\"d3\"}")},
	};
	struct store_pair health[] = {
	    {b("u2"), b("{\"service\":\"http://b\",\"reachable\":true}")},
	    {b("u1"), b("{\"service\":\"http://\\u0061\",\"reachable\":false}")},
	};
	struct store_raw raw;
	size_t len;
	char *body;

	(void)state;
	memset(&raw, 0, sizeof(raw));
	raw.hashes[0].v = active;
	raw.hashes[0].n = 6;
	raw.hashes[1].v = health;
	raw.hashes[1].n = 2;
	raw.strings[0] = b("{\"at\":\"t\",\"vms\":[],\"accepted\":0,\"refused\":0}");
	raw.strings[1] = b("not json");
	body = livejson_status(&raw, "2026-01-03T00:00:00.000Z", NULL, &len);
	body = text0(body, len);
	assert_int_equal(strlen(body), len); /* no NUL inside */
	check_json(body, len,
	           "{\"generated_at\":\"2026-01-03T00:00:00.000Z\",\"active\":["
	           "{\"dump_id\":\"d3\"},"
	           "{\"dump_id\":\"d1\",\"created_at\":\"2026-01-01\"},"
	           "{\"dump_id\":\"d0\",\"created_at\":\"2026-01-02\"},"
	           "{\"dump_id\":\"d2\",\"created_at\":\"2026-01-02\"}],\"active_count\":4,"
	           "\"services\":[{\"service\":\"http://a\",\"reachable\":false},"
	           "{\"service\":\"http://b\",\"reachable\":true}],"
	           "\"last_trigger\":{\"at\":\"t\",\"vms\":[],\"accepted\":0,\"refused\":0},"
	           "\"poller\":null}");
	/* compact, and the order on the text itself */
	assert_non_null(strstr(body, "{\"dump_id\":\"d3\"},{\"dump_id\":\"d1\""));
	assert_null(strchr(body, ' '));
	free(body);

	memset(&raw, 0, sizeof(raw));
	body = livejson_status(&raw, "x", NULL, &len);
	check_json(body, len,
	           "{\"generated_at\":\"x\",\"active\":[],\"active_count\":0,\"services\":[],"
	           "\"last_trigger\":null,\"poller\":null}");
	free(body);
}

/* A view that sees VMs starting with "db" (escaped names decoded) on any host but "h2". */
static bool view_db(void *arg, const char *vm, size_t vm_len, const char *host, size_t host_len)
{
	(void)arg;
	return vm_len >= 2 && memcmp(vm, "db", 2) == 0 &&
	       !(host_len == 2 && memcmp(host, "h2", 2) == 0);
}

static void test_scoped_view(void **state)
{
	struct store_pair active[] = {
	    {b("d1"), b("{\"dump_id\":\"d1\",\"vm\":\"db1\",\"host\":\"h1\"}")},
	    {b("d2"), b("{\"dump_id\":\"d2\",\"vm\":\"web\",\"host\":\"h1\"}")},
	    {b("d3"), b("{\"dump_id\":\"d3\",\"vm\":\"\\u0064b2\",\"host\":\"h1\"}")},
	    {b("d4"), b("{\"dump_id\":\"d4\",\"vm\":\"db4\",\"host\":\"h2\"}")},
	    {b("d5"), b("{\"dump_id\":\"d5\"}")},
	};
	struct store_pair vms[] = {
	    {b("db1"), b("{\"name\":\"db1\",\"host\":\"h1\"}")},
	    {b("web"), b("{\"name\":\"web\",\"host\":\"h1\"}")},
	};
	struct livejson_view view = {view_db, NULL, "local"};
	struct store_raw raw;
	size_t len;
	char *body;

	(void)state;
	memset(&raw, 0, sizeof(raw));
	raw.hashes[0].v = active;
	raw.hashes[0].n = 5;
	raw.strings[0] = b("{\"at\":\"t\",\"vms\":[\"web\"]}");
	body = livejson_status(&raw, "x", &view, &len);
	check_json(body, len,
	           "{\"generated_at\":\"x\",\"active\":["
	           "{\"dump_id\":\"d1\",\"vm\":\"db1\",\"host\":\"h1\"},"
	           "{\"dump_id\":\"d3\",\"vm\":\"db2\",\"host\":\"h1\"}],\"active_count\":2,"
	           "\"services\":[],\"last_trigger\":null,\"poller\":null,\"auth\":\"local\"}");
	free(body);
	/* no filter: last_trigger shown, auth named */
	view.visible = NULL;
	body = livejson_status(&raw, "x", &view, &len);
	assert_non_null(strstr(body, "\"active_count\":5"));
	assert_non_null(strstr(body, "\"last_trigger\":{\"at\""));
	free(body);

	memset(&raw, 0, sizeof(raw));
	raw.hashes[0].v = vms;
	raw.hashes[0].n = 2;
	view.visible = view_db;
	body = livejson_vms(&raw, &view, &len);
	check_json(body, len,
	           "{\"vms\":[{\"name\":\"db1\",\"host\":\"h1\",\"latest\":null}],\"count\":1,"
	           "\"services_down\":[]}");
	free(body);
}

static void test_vms_body(void **state)
{
	struct store_pair vms[] = {
	    {b("web"), b("{\"name\":\"web\",\"state\":\"running\",\"latest\":{\"old\":1}}")},
	    {b("db"), b("{ \"name\" : \"db\" }")},
	    {b("x"), b("{\"name\":\"x\"}")},
	    {b("bad"), b("{\"name\":")},
	    {b("empty"), b("{}")},
	    {b("only"), b("{\"latest\":3}")},
	};
	struct store_pair latest[] = {
	    {b("x"), b("nope")},
	    {b("web"), b("{\"dump_id\":\"w\"}")},
	    {b("db"), b("{\"dump_id\" : \"d\"}")},
	};
	struct store_pair health[] = {
	    {b("u1"), b("{\"service\":\"http://down\",\"reachable\":false}")},
	    {b("u2"), b("{\"service\":\"http://up\",\"reachable\":true}")},
	    {b("u3"), b("{\"reachable\":false}")},
	};
	struct store_raw raw;
	size_t len;
	char *body;

	(void)state;
	memset(&raw, 0, sizeof(raw));
	raw.hashes[0].v = vms;
	raw.hashes[0].n = 6;
	raw.hashes[1].v = latest;
	raw.hashes[1].n = 3;
	raw.hashes[2].v = health;
	raw.hashes[2].n = 3;
	body = livejson_vms(&raw, NULL, &len);
	body = text0(body, len);
	check_json(body, len,
	           "{\"vms\":[{\"latest\":null},{\"latest\":null},"
	           "{\"name\":\"db\",\"latest\":{\"dump_id\":\"d\"}},"
	           "{\"name\":\"web\",\"state\":\"running\",\"latest\":{\"dump_id\":\"w\"}},"
	           "{\"name\":\"x\",\"latest\":null}],"
	           "\"count\":5,\"services_down\":[\"http://down\"]}");
	assert_null(strchr(body, ' '));
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scan_accepts),
	    cmocka_unit_test(test_scan_refuses),
	    cmocka_unit_test(test_scan_depth),
	    cmocka_unit_test(test_scan_members),
	    cmocka_unit_test(test_copy_compacts_like_jansson),
	    cmocka_unit_test(test_string_decode),
	    cmocka_unit_test(test_status_body),
	    cmocka_unit_test(test_vms_body),
	    cmocka_unit_test(test_scoped_view),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
