/* pidfile.h: the master's pid file, written atomically and held locked. */
#ifndef DROVER_PIDFILE_H
#define DROVER_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

int	 pidfile_acquire(const char *, int, char *, size_t);
void	 pidfile_release(const char *, int);
pid_t	 pidfile_running(const char *, char *, size_t);

#endif
