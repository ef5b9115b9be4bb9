/* master.h: the master process: generations of workers, signals, reloads. */
#ifndef DROVER_MASTER_H
#define DROVER_MASTER_H

struct config;
struct upgrade_state;

struct master_opts {
	const char	*conf_path;
	int		 log_stderr;	/* -f: logs stay on stderr */
	int		 detach;	/* daemon: workers leave the terminal */
	int		 readyfd;	/* tell whoever waits that we serve */
	int		 pidfd;		/* locked pid file, or -1 */
	const char	*exe;		/* this binary's path, for SIGUSR2 */
	char		**upgrade_argv;	/* the arguments to run it with */
	struct upgrade_state *upgrade;	/* sockets inherited, or NULL */
};

int	 master_main(struct config *, const struct master_opts *);

#endif
