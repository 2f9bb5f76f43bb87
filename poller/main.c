/*
 * memdump-poller: polls every memdumpd and keeps Redis current (docs/poller.md).
 * Start-up: fds 0-2 open, options and configuration (config_from_args), then
 * the loop in poller.c; everything it owns is freed on exit.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "poller.h"

static void main_fds_open(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", O_RDWR);

			if (n < 0)
				abort();
			if (n != fd)
				close(n);
		}
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	struct config *cfg;
	struct poller *p;
	int code = 0;

	main_fds_open();
	jsonu_init();
	log_init("poller", LOG_LVL_INFO);
	cfg = config_from_args(CFG_P_POLLER, "memdump-poller",
	                       "polls every memdumpd and keeps Redis current", argc, argv, &file,
	                       &code);
	if (cfg == NULL)
		return code;
	http_client_global_init();
	poller_signals_install();
	p = poller_new(cfg, file);
	if (p == NULL) {
		http_client_global_cleanup();
		return 78; /* configuration error, as config_from_args */
	}
	code = poller_run(p);
	poller_free(p);
	http_client_global_cleanup();
	return code;
}
