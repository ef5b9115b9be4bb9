/* master.h: the master process: generations of workers, signals, reloads. */
#ifndef DROVER_MASTER_H
#define DROVER_MASTER_H

struct config;

struct master_opts {
	const char	*conf_path;
	int		 log_stderr;	/* -f: logs stay on stderr */
	int		 detach;	/* daemon: workers leave the terminal */
	int		 readyfd;	/* daemon: tell the waiting parent */
	int		 pidfd;		/* locked pid file, or -1 */
};

int	 master_main(struct config *, const struct master_opts *);

#endif
