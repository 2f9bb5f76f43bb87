/*
 * test_accounts: the accounts file (data-folder cases in tests/data/accounts/,
 * the model round trip, every cap, the editing functions, tokens, load/save
 * with their permission rules) and kdf (hash, verify, wrong password, caps).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "accounts.h"
#include "kdf.h"
#include "support/caserender_accounts.h"
#include "support/datacase.h"
#include "xmalloc.h"

static void test_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("accounts", caserender_accounts), 0);
}

static struct accounts *parse_ok(const char *text)
{
	struct accounts *a = NULL;
	struct err e = {0};

	if (accounts_parse(text, strlen(text), &a, &e) < 0)
		fail_msg("parse: %s", e.msg);
	return a;
}

static void parse_fails(const char *text, enum err_code code, const char *needle)
{
	struct accounts *a = (struct accounts *)1;
	struct err e = {0};

	assert_int_equal(accounts_parse(text, strlen(text), &a, &e), -1);
	assert_null(a);
	assert_int_equal(e.code, code);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("'%s' not in '%s'", needle, e.msg);
}

static void test_model(void **state)
{
	struct accounts *a;
	struct account_user *u;
	char *text;
	size_t n;

	(void)state;
	a = parse_ok("user bob role=operator groups=dba vms=web-*,db-? hosts=kvm1 disabled=1\n"
	             "group dba role=investigator\n");
	u = accounts_user(a, "bob");
	assert_non_null(u);
	assert_int_equal(u->role, ROLE_OPERATOR);
	assert_null(u->hash);
	assert_int_equal(u->n_groups, 1);
	assert_string_equal(u->scope.vms[1], "db-?");
	assert_string_equal(u->scope.hosts[0], "kvm1");
	assert_true(u->disabled);
	assert_non_null(accounts_group(a, "dba"));
	assert_null(accounts_group(a, "bob"));
	assert_null(accounts_user(a, "dba"));
	text = accounts_format(a, &n);
	assert_int_equal(strlen(text), n);
	assert_non_null(strstr(text, "user bob role=operator groups=dba vms=web-*,db-? hosts=kvm1 "
	                             "disabled=1\n"));
	free(text);
	accounts_free(a);
	accounts_free(NULL);
}

static void test_refusals(void **state)
{
	(void)state;
	parse_fails("user a role=viewer\nuser a role=admin\n", ERR_INVALID,
	            "line 2: duplicate user 'a' (first on line 1)");
	parse_fails("user a role=viewer frob=1\n", ERR_INVALID, "line 1: unknown key 'frob'");
	parse_fails("\n\nuser a role=viewer hash=plain\n", ERR_INVALID, "line 3:");
	parse_fails("user a role=viewer vms=x,y\ntoken 0123456789ab user=b hash="
	            "0000000000000000000000000000000000000000000000000000000000000000 created=1\n",
	            ERR_INVALID, "line 2: token 0123456789ab belongs to no user 'b'");
	parse_fails("user a role=viewer vms=a*[b]\n", ERR_INVALID, "only '*' and '?'");
}

static void test_caps(void **state)
{
	char *big, *line;
	size_t n = 0;

	(void)state;
	big = xmalloc(ACCOUNTS_FILE_MAX + 2);
	memset(big, '#', ACCOUNTS_FILE_MAX + 1);
	big[ACCOUNTS_FILE_MAX + 1] = '\0';
	{
		struct accounts *a = NULL;
		struct err e = {0};

		assert_int_equal(accounts_parse(big, ACCOUNTS_FILE_MAX + 1, &a, &e), -1);
		assert_int_equal(e.code, ERR_TOO_LARGE);
	}
	/* ACCOUNTS_RECORDS_MAX groups parse (fast: duplicates are hashed), one more does not */
	for (unsigned i = 0; i <= ACCOUNTS_RECORDS_MAX; i++) {
		line = xasprintf("group g%u role=viewer\n", i);
		memcpy(big + n, line, strlen(line));
		n += strlen(line);
		free(line);
	}
	{
		struct accounts *a = NULL;
		struct err e = {0};

		assert_int_equal(accounts_parse(big, n, &a, &e), -1);
		assert_int_equal(e.code, ERR_TOO_LARGE);
		assert_non_null(strstr(e.msg, "line 100001"));
		n -= strlen("group g100000 role=viewer\n");
		assert_int_equal(accounts_parse(big, n, &a, &e), 0);
		assert_int_equal(a->n_groups, ACCOUNTS_RECORDS_MAX);
		accounts_free(a);
	}
	free(big);
	{
		struct err e = {0};
		char name[ACCOUNTS_NAME_MAX + 2];

		memset(name, 'n', sizeof(name));
		name[ACCOUNTS_NAME_MAX] = '\0';
		assert_int_equal(accounts_name_check(name, &e), 0);
		name[ACCOUNTS_NAME_MAX] = 'n';
		name[ACCOUNTS_NAME_MAX + 1] = '\0';
		assert_int_equal(accounts_name_check(name, &e), -1);
		assert_int_equal(e.code, ERR_TOO_LARGE);
		assert_int_equal(accounts_name_check("", &e), -1);
		assert_int_equal(accounts_name_check("a.b@c-d_9", &e), 0);
		assert_int_equal(accounts_pattern_check("a b", &e), -1);
		assert_int_equal(accounts_pattern_check("a,b", &e), -1);
		assert_int_equal(accounts_pattern_check("wéb-?", &e), 0);
		assert_int_equal(accounts_label_check("ci-runner", &e), 0);
		assert_int_equal(accounts_label_check("c i", &e), -1);
	}
}

static void test_lists_and_editing(void **state)
{
	struct accounts *a = accounts_new();
	struct account_user *u;
	char token[ACCOUNTS_TOKEN_LEN + 1];
	struct err e = {0};
	char **v;
	size_t n;

	(void)state;
	assert_int_equal(accounts_list_parse("", true, &v, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(accounts_list_parse("a,b*", true, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	accounts_list_set(&v, &n, NULL, 0);
	assert_int_equal(accounts_list_parse("a,b*", false, &v, &n, &e), -1); /* '*' in a name */
	assert_null(v);
	u = accounts_user_add(a, "alice", &e);
	assert_non_null(u);
	u->role = ROLE_ADMIN;
	assert_int_equal(accounts_list_parse("a,b*", true, &v, &n, &e), 0);
	accounts_list_set(&u->scope.vms, &u->scope.n_vms, v, n);
	assert_null(accounts_user_add(a, "alice", &e));
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_non_null(accounts_user_add(a, "bob", &e));
	accounts_user(a, "bob")->role = ROLE_VIEWER;
	assert_int_equal(accounts_list_parse("dba", false, &v, &n, &e), 0);
	u = accounts_user(a, "bob");
	accounts_list_set(&u->groups, &u->n_groups, v, n);
	assert_non_null(accounts_group_add(a, "dba", &e));
	assert_non_null(accounts_token_new(a, "alice", 100, 0, "ci", token, &e));
	assert_non_null(accounts_token_new(a, "alice", 100, 200, NULL, token, &e));
	assert_non_null(accounts_token_new(a, "bob", 100, 0, NULL, token, &e));
	assert_null(accounts_token_new(a, "nobody", 100, 0, NULL, token, &e));
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(a->n_tokens, 3);
	{ /* the model survives format -> parse */
		size_t len;
		char *text = accounts_format(a, &len), *again;
		struct accounts *b = parse_ok(text);

		again = accounts_format(b, NULL);
		assert_string_equal(text, again);
		assert_int_equal(b->n_tokens, 3);
		free(text);
		free(again);
		accounts_free(b);
	}
	assert_int_equal(accounts_group_del(a, "dba"), 1);
	assert_int_equal(accounts_user(a, "bob")->n_groups, 0);
	assert_int_equal(accounts_group_del(a, "dba"), -1);
	assert_int_equal(accounts_user_del(a, "alice"), 2);
	assert_int_equal(a->n_tokens, 1);
	assert_int_equal(accounts_token_del(a, a->tokens[0].id), 0);
	assert_int_equal(accounts_token_del(a, "000000000000"), -1);
	assert_int_equal(accounts_user_del(a, "alice"), -1);
	accounts_free(a);
}

static void test_tokens(void **state)
{
	struct accounts *a = parse_ok("user t role=viewer\n");
	char token[ACCOUNTS_TOKEN_LEN + 1], id[ACCOUNTS_TOKEN_ID_LEN + 1], hash[65];
	struct account_token *t;
	struct err e = {0};

	(void)state;
	t = accounts_token_new(a, "t", 1, 0, NULL, token, &e);
	assert_non_null(t);
	assert_int_equal(strlen(token), ACCOUNTS_TOKEN_LEN);
	assert_memory_equal(token, "mdt_", 4);
	assert_int_equal(accounts_token_split(token, strlen(token), id), 0);
	assert_string_equal(id, t->id);
	accounts_token_hash(token, strlen(token), hash);
	assert_string_equal(hash, t->hash);
	{ /* the file holds the hash, never the secret */
		char *text = accounts_format(a, NULL);

		assert_null(strstr(text, token + 17));
		assert_non_null(strstr(text, t->hash));
		free(text);
	}
	/* a known vector: SHA-256("abc") */
	accounts_token_hash("abc", 3, hash);
	assert_string_equal(hash,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(accounts_token_split(token, strlen(token) - 1, id), -1);
	token[20] = '+';
	assert_int_equal(accounts_token_split(token, strlen(token), id), -1);
	assert_int_equal(
	    accounts_token_split("mdt_0123456789AB_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 60,
	                         id),
	    -1);
	assert_int_equal(
	    accounts_token_split("mdt_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_",
	                         60, id),
	    0);
	assert_string_equal(id, "0123456789ab");
	assert_int_equal(
	    accounts_token_split("mdx_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 60,
	                         id),
	    -1);
	accounts_free(a);
}

static void test_load_save(void **state)
{
	char dir[] = "/tmp/test_accounts.XXXXXX";
	struct accounts *a = parse_ok("user a role=viewer\n"), *b = NULL;
	struct err e = {0};
	struct stat st;
	char *path;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/accounts", dir);
	assert_int_equal(accounts_load(path, &b, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(accounts_save(path, a, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(accounts_load(path, &b, &e), 0);
	assert_non_null(accounts_user(b, "a"));
	accounts_free(b);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(accounts_load(path, &b, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "chmod 600"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(accounts_load(path, &b, &e), -1);
	assert_int_equal(accounts_save(path, a, &e), 0); /* the rewrite is 0600 again */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(accounts_load(dir, &b, &e), -1); /* a folder */
	assert_int_equal(e.code, ERR_INVALID);
	unlink(path);
	rmdir(dir);
	free(path);
	accounts_free(a);
}

static void test_kdf(void **state)
{
	char hash[KDF_HASH_MAX], hash2[KDF_HASH_MAX], long_pw[KDF_PASSWORD_MAX + 2];
	struct err e = {0};

	(void)state;
	assert_int_equal(kdf_hash("correct horse", hash, &e), 0);
	assert_memory_equal(hash, "$y$", 3);
	assert_true(kdf_verify("correct horse", hash));
	assert_false(kdf_verify("correct horsf", hash));
	assert_false(kdf_verify("", hash));
	assert_false(kdf_verify("correct horse", NULL));
	assert_false(kdf_verify("correct horse", "$y$broken"));
	assert_int_equal(kdf_hash("correct horse", hash2, &e), 0);
	assert_string_not_equal(hash, hash2); /* salted */
	kdf_burn("anything");
	kdf_burn("");
	assert_int_equal(kdf_hash("", hash, &e), -1);
	memset(long_pw, 'p', sizeof(long_pw));
	long_pw[KDF_PASSWORD_MAX] = '\0';
	assert_int_equal(kdf_password_check(long_pw, KDF_PASSWORD_MAX, &e), 0);
	long_pw[KDF_PASSWORD_MAX] = 'p';
	long_pw[KDF_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(kdf_hash(long_pw, hash, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	assert_int_equal(kdf_password_check("a\0b", 3, &e), -1);
	{ /* a kdf hash is what the accounts file accepts */
		char *line;
		struct accounts *a;

		assert_int_equal(kdf_hash("pw", hash, &e), 0);
		line = xasprintf("user a role=viewer hash=%s\n", hash);
		a = parse_ok(line);
		assert_true(kdf_verify("pw", accounts_user(a, "a")->hash));
		accounts_free(a);
		free(line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_lists_and_editing),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_load_save),
	    cmocka_unit_test(test_kdf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
