/* proc.h: process plumbing: daemonizing, privileges, limits. */
#ifndef DROVER_PROC_H
#define DROVER_PROC_H

#include <stddef.h>

int	 proc_daemonize(int *);
void	 proc_daemon_ready(int, int);
void	 proc_stdio_null(int);
int	 proc_drop_privileges(const char *, const char *, char *, size_t);
int	 proc_check_credentials(const char *, const char *, char *, size_t);
int	 proc_set_nofile(long, char *, size_t);

#endif
