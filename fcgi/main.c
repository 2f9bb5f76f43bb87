/*
 * memdump-api: the FastCGI worker pool behind nginx for /api/memory-dumps/.
 * main parses the command line and configuration (--help, -c FILE, -t) and hands
 * over to the master (master.c), which forks the workers (worker.c).
 */
#include <stdlib.h>

#include "config.h"
#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "master.h"

int main(int argc, char **argv)
{
	const char *file = NULL;
	struct config *cfg;
	enum log_level lvl = LOG_LVL_INFO;
	int code = 0, status;

	log_init("memdump-api", LOG_LVL_INFO);
	jsonu_init();
	cfg = config_from_args(CFG_P_API, "memdump-api",
	                       "FastCGI worker pool serving the memdump dashboard API", argc, argv,
	                       &file, &code);
	if (cfg == NULL)
		return code;
	if (log_level_parse(config_str(cfg, CFG_LOG_LEVEL), &lvl) == 0)
		log_set_level(lvl);
	http_client_global_init();
	status = master_run(cfg, file);
	http_client_global_cleanup();
	return status;
}
