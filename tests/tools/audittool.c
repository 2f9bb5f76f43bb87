/*
 * audittool: memdump-admin's audit functions (admin/audit_cmd.c) on the command
 * line for tests, until memdump-admin's CLI calls them. Settings from the
 * environment (INFLUX_URL, INFLUX_DB, INFLUX_TOKEN, MEMDUMP_AUDIT_SPOOL).
 *
 *   audittool event ACTION TARGET DETAIL [N]   N events (default 1) in one chain
 *   audittool verify [--since TIME]            exit 0 intact, 1 broken, 69 unavailable
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../admin/audit_cmd.h"
#include "config.h"
#include "http_client.h"
#include "json_util.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct config *cfg;
	struct err e = {0};
	int code = 64;

	log_init("audittool", LOG_LVL_WARN);
	jsonu_init();
	http_client_global_init();
	cfg = config_load(NULL, &e);
	if (cfg == NULL) {
		fprintf(stderr, "audittool: %s\n", e.msg);
		return 78;
	}
	if (argc >= 5 && strcmp(argv[1], "event") == 0) {
		char *end = NULL;
		long n = argc > 5 ? strtol(argv[5], &end, 10) : 1;

		if (argc > 5 && (*end != '\0' || n < 1 || n > 100000)) {
			fprintf(stderr, "audittool: N must be 1..100000\n");
			goto out;
		}
		code = 0;
		for (long i = 0; i < n && code == 0; i++)
			if (audit_cmd_event(cfg, argv[2], argv[3], argv[4], &e) < 0) {
				fprintf(stderr, "audittool: %s\n", e.msg);
				code = 1;
			}
	} else if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		code = audit_cmd_verify(cfg, argc - 1, argv + 1);
	} else {
		fprintf(stderr,
		        "usage: audittool event ACTION TARGET DETAIL [N] | verify [--since T]\n");
	}
out:
	config_free(cfg);
	return code;
}
