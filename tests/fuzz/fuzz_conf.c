/*
 * fuzz_conf.c: libFuzzer target for the configuration loader. The input
 * is written to a file (in memory) and loaded with conf_load, as drover -t does:
 * libconfuse's lexer and parser, the comment blanking, the validators and
 * conf_fill. A refused file must come with a message; a loaded one must
 * free cleanly (ASan and LeakSanitizer see the rest).
 */
#include "autoconf.h"

#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 conf_path[64];
static int	 conf_fd = -1;

/*
 * One in-memory file for the whole run, loaded through its /proc name: a
 * file on disk costs a writeback per input (truncate, then close).
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((conf_fd = memfd_create("fuzz_conf", MFD_CLOEXEC)) == -1)
		abort();
	snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*conf;
	char		 err[1024];

	if (ftruncate(conf_fd, 0) == -1 ||
	    pwrite(conf_fd, data, size, 0) != (ssize_t)size)
		abort();

	memset(err, 'x', sizeof(err));
	conf = conf_load(conf_path, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (conf == NULL && err[0] == '\0')
		abort();		/* refused without saying why */
	if (conf != NULL)
		conf_free(conf);
	return (0);
}
