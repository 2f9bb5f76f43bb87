/*
 * memdump-admin: accounts, groups, API tokens and audit verification
 * (docs/security.md). Edits the accounts file (MEMDUMP_ACCOUNTS) atomically.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "%s: not built yet\n", argv[0]);
	return 70;
}
