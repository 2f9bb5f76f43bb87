/*
 * test_authz: identities from an accounts model: the role per VM with
 * overlapping grants, scoped admin is not unscoped, disabled and unknown users,
 * REMOTE_USER groups, glob matching (UTF-8 '?'), the InfluxQL where clause and
 * its escaping, and the identity JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "accounts.h"
#include "authz.h"

static const char model[] = "user alice role=admin\n"
                            "user bob role=viewer groups=dba,ghost vms=web-*\n"
                            "user carol role=admin vms=db-* hosts=kvm1\n"
                            "user dave role=operator disabled=1\n"
                            "user erin role=none groups=dba,nogrant\n"
                            "user frank role=viewer vms=a.b,x/y,c(d)|e,f$^+\n"
                            "group dba role=operator vms=db-*\n"
                            "group ops role=investigator hosts=kvm2\n"
                            "group nogrant role=none\n";

static struct accounts *load(void)
{
	struct accounts *a = NULL;
	struct err e = {0};

	if (accounts_parse(model, strlen(model), &a, &e) < 0)
		fail_msg("%s", e.msg);
	return a;
}

static void test_roles_per_vm(void **state)
{
	struct accounts *a = load();
	struct identity id;
	struct err e = {0};

	(void)state;
	assert_int_equal(authz_identity_for(a, "bob", AUTHZ_PASSWORD, NULL, 0, &id, &e), 0);
	assert_int_equal(id.n_groups, 2); /* dba and ghost (no such group: no grant) */
	assert_int_equal(id.n_grants, 2);
	assert_int_equal(authz_role_for(&id, "web-1", "kvm9"), ROLE_VIEWER);
	assert_int_equal(authz_role_for(&id, "db-1", "kvm9"), ROLE_OPERATOR);
	assert_int_equal(authz_role_for(&id, "cache", "kvm9"), ROLE_NONE);
	assert_int_equal(authz_role_for(&id, NULL, NULL), ROLE_NONE);
	assert_int_equal(authz_role_max(&id), ROLE_OPERATOR);
	assert_false(authz_unscoped(&id, ROLE_VIEWER));

	assert_int_equal(authz_identity_for(a, "alice", AUTHZ_TOKEN, NULL, 0, &id, &e), 0);
	assert_true(authz_unscoped(&id, ROLE_ADMIN));
	assert_int_equal(authz_role_for(&id, NULL, NULL), ROLE_ADMIN);
	assert_null(authz_influx_where(&id, ROLE_VIEWER));
	accounts_free(a);
}

static void test_scoped_admin(void **state)
{
	struct accounts *a = load();
	struct identity id;
	struct err e = {0};
	char *w;

	(void)state;
	assert_int_equal(authz_identity_for(a, "carol", AUTHZ_PASSWORD, NULL, 0, &id, &e), 0);
	assert_int_equal(authz_role_max(&id), ROLE_ADMIN);
	assert_false(authz_unscoped(&id, ROLE_ADMIN));
	assert_false(authz_unscoped(&id, ROLE_VIEWER));
	assert_int_equal(authz_role_for(&id, "db-1", "kvm1"), ROLE_ADMIN);
	assert_int_equal(authz_role_for(&id, "db-1", "kvm2"), ROLE_NONE);
	assert_int_equal(authz_role_for(&id, "db-1", NULL), ROLE_NONE);
	w = authz_influx_where(&id, ROLE_VIEWER);
	assert_string_equal(w, "((vm =~ /^db-.*$/) AND (host =~ /^kvm1$/))");
	free(w);
	accounts_free(a);
}

static void test_disabled_unknown_remote(void **state)
{
	struct accounts *a = load();
	const char *groups[] = {"ops", "dba", "bad name", "unknown"};
	struct identity id;
	struct err e = {0};

	(void)state;
	assert_int_equal(authz_identity_for(a, "dave", AUTHZ_PASSWORD, NULL, 0, &id, &e), -1);
	assert_int_equal(e.code, ERR_AUTH);
	assert_int_equal(authz_identity_for(a, "dave", AUTHZ_REMOTE, groups, 4, &id, &e), -1);
	assert_int_equal(e.code, ERR_AUTH);
	assert_int_equal(authz_identity_for(a, "zed", AUTHZ_TOKEN, NULL, 0, &id, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	/* extra groups count only for REMOTE_USER */
	assert_int_equal(authz_identity_for(a, "bob", AUTHZ_PASSWORD, groups, 4, &id, &e), 0);
	assert_int_equal(authz_role_for(&id, "x", "kvm2"), ROLE_NONE);
	/* an unknown remote user gets its groups' grants only */
	assert_int_equal(authz_identity_for(a, "zed", AUTHZ_REMOTE, groups, 4, &id, &e), 0);
	assert_string_equal(id.user, "zed");
	assert_int_equal(id.method, AUTHZ_REMOTE);
	assert_int_equal(id.n_groups, 3); /* ops, dba, unknown; the bad name is dropped */
	assert_int_equal(id.n_grants, 2);
	assert_int_equal(authz_role_for(&id, "x", "kvm2"), ROLE_INVESTIGATOR);
	assert_int_equal(authz_role_for(&id, "db-x", "kvm1"), ROLE_OPERATOR);
	assert_int_equal(authz_role_for(&id, "x", "kvm1"), ROLE_NONE);
	/* a remote user with a user line: its own grant plus both group lists, once each */
	assert_int_equal(authz_identity_for(a, "bob", AUTHZ_REMOTE, groups, 4, &id, &e), 0);
	assert_int_equal(id.n_groups, 4); /* dba, ghost, ops, unknown */
	assert_int_equal(id.n_grants, 3);
	/* ROLE_NONE grants nothing */
	assert_int_equal(authz_identity_for(a, "erin", AUTHZ_PASSWORD, NULL, 0, &id, &e), 0);
	assert_int_equal(id.n_grants, 1);
	assert_int_equal(authz_role_max(&id), ROLE_OPERATOR);
	/* anonymous */
	authz_identity_anonymous(&id);
	assert_string_equal(id.user, "anonymous");
	assert_true(authz_unscoped(&id, ROLE_ADMIN));
	accounts_free(a);
}

static void test_glob(void **state)
{
	(void)state;
	assert_true(authz_glob_match("web-*", "web-1"));
	assert_true(authz_glob_match("web-*", "web-"));
	assert_false(authz_glob_match("web-*", "xweb-1"));
	assert_true(authz_glob_match("*", ""));
	assert_false(authz_glob_match("?", ""));
	assert_true(authz_glob_match("db-?", "db-1"));
	assert_false(authz_glob_match("db-?", "db-12"));
	assert_true(authz_glob_match("db-?", "db-é")); /* one UTF-8 character, two bytes */
	assert_true(authz_glob_match("??", "é€"));     /* 2 + 3 bytes */
	assert_false(authz_glob_match("???", "é€"));
	assert_true(authz_glob_match("*?", "€"));
	assert_true(authz_glob_match("a*b*c", "aXbYbZc"));
	assert_false(authz_glob_match("a*b*c", "aXbYbZ"));
	assert_true(authz_glob_match("*.*", "a.b"));
	assert_false(authz_glob_match("a.b", "axb")); /* '.' is literal */
	assert_true(authz_glob_match("**x", "x"));
	assert_false(authz_glob_match("", "x"));
	assert_true(authz_glob_match("", ""));
}

static void test_influx_where(void **state)
{
	struct accounts *a = load();
	struct identity id;
	struct err e = {0};
	char *w;

	(void)state;
	assert_int_equal(authz_identity_for(a, "bob", AUTHZ_PASSWORD, NULL, 0, &id, &e), 0);
	w = authz_influx_where(&id, ROLE_VIEWER);
	assert_string_equal(w, "(vm =~ /^web-.*$/) OR (vm =~ /^db-.*$/)");
	free(w);
	w = authz_influx_where(&id, ROLE_OPERATOR);
	assert_string_equal(w, "(vm =~ /^db-.*$/)");
	free(w);
	w = authz_influx_where(&id, ROLE_ADMIN); /* no grant: matches nothing */
	assert_string_equal(w, "(vm !~ /.*/)");
	free(w);
	assert_int_equal(authz_identity_for(a, "frank", AUTHZ_PASSWORD, NULL, 0, &id, &e), 0);
	w = authz_influx_where(&id, ROLE_VIEWER);
	assert_string_equal(w, "(vm =~ /^(?:a\\.b|x\\/y|c\\(d\\)\\|e|f\\$\\^\\+)$/)");
	free(w);
	accounts_free(a);
}

static void test_identity_json(void **state)
{
	struct accounts *a = load();
	struct identity id;
	struct err e = {0};
	json_t *j;
	char *text;

	(void)state;
	assert_int_equal(authz_identity_for(a, "bob", AUTHZ_TOKEN, NULL, 0, &id, &e), 0);
	j = authz_identity_json(&id);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    text, "{\"auth\":\"token\",\"grants\":[{\"from\":\"user\",\"hosts\":[],"
	          "\"role\":\"viewer\",\"vms\":[\"web-*\"]},{\"from\":\"group:dba\","
	          "\"hosts\":[],\"role\":\"operator\",\"vms\":[\"db-*\"]}],"
	          "\"groups\":[\"dba\",\"ghost\"],\"role\":\"operator\",\"user\":\"bob\"}");
	free(text);
	json_decref(j);
	assert_string_equal(authz_method_name(AUTHZ_REMOTE), "remote");
	assert_string_equal(authz_method_name(AUTHZ__MAX), "?");
	accounts_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roles_per_vm),
	    cmocka_unit_test(test_scoped_admin),
	    cmocka_unit_test(test_disabled_unknown_remote),
	    cmocka_unit_test(test_glob),
	    cmocka_unit_test(test_influx_where),
	    cmocka_unit_test(test_identity_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
