/*
 * master_int.h: what the master's files share (tmux style, one section per
 * file): its state, the kept listen addresses, its generations of workers
 * and their process records. Nothing outside src/process/master*.c,
 * generation.c, keeper.c and control*.c includes it.
 */
#ifndef DROVER_MASTER_INT_H
#define DROVER_MASTER_INT_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "core/addr.h"
#include "core/backoff.h"
#include "process/channel.h"
#include "process/master.h"

struct config;
struct listen_conf;

/*
 * An address held for this drover across generations: the keeper socket,
 * and a copy of each worker slot's listening socket. A new worker for slot
 * i takes over the same listener, so connections queued in it survive a
 * reload or a crash of the worker that made it.
 */
#define KEEPER_UDP	"udp "	/* before a UDP address in a keeper's key */

struct keeper {
	TAILQ_ENTRY(keeper)	 entry;
	char			 key[ADDR_STRLEN + 8];	/* as configured */
	struct addr		 addr;			/* port resolved */
	int			 udp;
	int			 fd;	/* TCP: bound, never listens; UDP:
					 * slot 0's socket */
	int			 refs;
	int			*slot_fds;	/* per worker slot, or -1 */
	int			 nslot_fds;
	int			*xslot_fds;	/* per exec process slot */
	int			 nxslot_fds;
};

enum wproc_state {
	WPROC_STARTING,
	WPROC_READY,
	WPROC_DRAINING,
};

struct generation;
struct xout;

/*
 * The master's view of one worker process: one of drover's own workers,
 * or a process of an exec server (x set, chan -1; exec.c).
 */
struct wproc {
	TAILQ_ENTRY(wproc)	 entry;
	struct generation	*gen;
	pid_t			 pid;
	int			 slot;		/* worker's, or in its server */
	int			 gslot;		/* in gen->slots */
	struct xproc		*x;		/* exec: its program's state */
	int			 chan;
	struct event		*ev_chan;
	enum wproc_state	 state;
	int			 unlistened;	/* draining: accepts no more */
	int			 stats_idx;
	struct timespec		 started;
	char			 reason[CHAN_TEXT_MAX];
};

/* The state of an exec server's process and its program (exec*.c). */
struct xproc {
	struct server_conf	*sc;
	int			 err_fd;	/* exec's failure; EOF: it ran */
	struct event		*ev_err;
	int			 execd;		/* exec() succeeded */
	int			 notify_fd;	/* its NOTIFY_SOCKET */
	struct event		*ev_notify;
	struct xout		*out;		/* its stdout and stderr */
	int			 probe_fd;	/* ready = http: a GET */
	struct event		*ev_probe;
	struct event		*ev_probe_timer;
	struct sockaddr_storage	 probe_to;	/* the listener's address */
	struct sockaddr_storage	 probe_from;	/* the GET's own */
	int64_t			 probe_deadline;	/* ms, monotonic */
	int			 probe_quick;	/* tries at once in a row */
	size_t			 probe_len;
	char			 probe_buf[256];
	long			 watchdog;	/* last WATCHDOG=1 (s); 0 none */
	int			 stopping;	/* it sent STOPPING=1 */
	char			 status[128];	/* its STATUS= */
	char			 last[256];	/* its last line of output */
};

/*
 * A process slot of a generation: its backoff and pending respawn. The
 * first nslots are drover's workers; then each exec server's processes.
 */
struct gslot {
	struct generation	*gen;
	int			 slot;		/* worker's, or in its server */
	struct server_conf	*sc;		/* exec, or NULL */
	struct backoff		 backoff;
	struct event		*ev_respawn;
};

enum gen_state {
	GEN_STARTING,
	GEN_SERVING,
	GEN_DRAINING,
};

struct generation {
	TAILQ_ENTRY(generation)	 entry;
	unsigned		 id;
	struct config		*conf;
	enum gen_state		 state;
	TAILQ_HEAD(, wproc)	 procs;
	int			 nready;
	struct gslot		*slots;
	int			 nslots;	/* drover's workers */
	int			 ngslots;	/* and exec processes */
	struct event		*ev_timer;	/* ready or kill deadline */
	struct keeper		**keepers;
	struct server_conf	**kserver;	/* per keeper: its server */
	size_t			 nkeepers;
	int			*served;	/* per keeper: slots accepted */
	struct timespec		 created;	/* CLOCK_MONOTONIC */
};

/* The master's state; one master per process, as worker.c has its w. */
struct master {
	struct event_base	*base;
	struct master_opts	 opts;
	TAILQ_HEAD(, generation) gens;
	TAILQ_HEAD(, keeper)	 keepers;
	struct generation	*current;	/* serving */
	struct generation	*pending;	/* starting (reload) */
	unsigned		 next_gen;
	int			 started;
	int			 stopping;	/* 1 graceful, 2 fast */
	int			 reload_again;
	int			 exit_code;
	char			*pid_file;
	char			*ports_file;	/* last written */
	struct event		*ev_sig[7];
	struct event		*ev_stop;
	struct stats_shm	*stats;
	int			 stats_full_warned;
	pid_t			 upgrade_pid;	/* new master starting */
	struct event		*ev_upgrade;	/* its ready pipe */
	struct event		*ev_upgrade_timer;
	int			 upgrade_fd;
	int			 upgraded;	/* it serves: we leave */
	int			 oldbin;	/* PIDFILE.oldbin written */
	struct timespec		 reload_start;	/* SIGHUP received */
	int			 handover[2];	/* the inbox: send, receive */
};

/* master.c */
extern struct master m;

void	 master_stop(int);
void	 master_reload(void);
void	 master_reload_failed(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 master_check_done(void);
void	 master_write_ports(const struct config *);
void	 master_child_cleanup(struct generation *);
void	 master_describe_status(int, char *, size_t);

/* generation.c */
struct generation *gen_create(struct config *, char *, size_t);
void	 gen_retire(struct generation *);
void	 gen_drain(struct generation *);
int	 gen_check_end(struct generation *);
void	 gen_free(struct generation *);
void	 gen_send_all(struct generation *, enum chan_type, int, int);
void	 gen_reopen_access_logs(struct generation *);
int	 gen_abort(struct generation *, const char *);
void	 gen_serving(struct generation *);
const char *gen_procs_text(const struct generation *);

/* wproc.c */
int	 wproc_spawn(struct generation *, int);
void	 wproc_add(struct generation *, struct wproc *);
void	 wproc_ready(struct wproc *);
void	 wproc_send(struct wproc *, enum chan_type, int, int);
void	 wproc_close_chan(struct wproc *);
int	 wproc_reaped(pid_t, int);

/* exec.c */
int	 exec_spawn(struct generation *, struct gslot *);
void	 exec_stop(struct wproc *, int);
void	 exec_exited(struct wproc *, const char *, char *, size_t);
void	 exec_free(struct wproc *);
void	 exec_fd_close(struct event **, int *);
void	 exec_check_host(const struct config *);

/* exec_child.c: what a new process of an exec server is given. */
struct exec_child {
	const struct config	*conf;
	const struct server_conf *sc;
	unsigned		 generation;
	int			 slot;
	const int		*listeners;
	int			 nlisteners;
	int			 errfd;		/* exec's failure goes here */
	int			 outfd;		/* its stdout and stderr */
	const char		*notify;	/* NOTIFY_SOCKET */
	pid_t			 master;
};
void	 exec_child_run(const struct exec_child *)
	    __attribute__((noreturn));

/* exec_notify.c */
int	 exec_notify_open(struct wproc *, char *, size_t);
void	 exec_notify_close(struct xproc *);
void	 exec_watchdog_check(struct wproc *, int, long);

/* exec_output.c */
struct xout	*exec_output_open(struct wproc *, int *);
void		 exec_output_started(struct xout *, pid_t);
void		 exec_output_detach(struct xout *);
void		 exec_output_reopen(void);
void		 exec_output_cleanup(void);

/* exec_ready.c */
void	 exec_ready_start(struct wproc *);
void	 exec_ready_stop(struct xproc *);

/* keeper.c */
struct keeper	*keeper_get(struct listen_conf *, int, char *, size_t);
int		 keeper_udp_slots(struct generation *, size_t, char *,
		    size_t);
void		 keeper_store(struct keeper *, int, int, int);
void		 keeper_put(struct keeper *);
void		 keeper_put_unused(void);
void		 keeper_put_all(void);
void		 keeper_child_keep(struct generation *);
void		 keeper_set_inherit(struct generation *, int);
void		 keeper_clear_inherit(struct generation *);
void		 keeper_trim(void);
void		 keeper_adopt_strays(struct wproc *);
void		 keeper_lend(struct generation *, int);
int		 keeper_send_slot(const struct generation *, int, int);
int		 keeper_exec_fds(struct generation *, struct server_conf *,
		    int, int *, char *, size_t);
void		 keeper_offer(struct wproc *, const struct chan_msg *, int);

/* master_notify.c */
void	 master_notify_init(void);
void	 master_notify_started(void);
void	 master_notify_reloading(void);
void	 master_notify_reloaded(int);
void	 master_notify_stopping(void);
void	 master_notify_cleanup(void);
void	 master_notify_forget(void);

/* master_sibling.c */
void	 master_sibling_ready(struct wproc *);

/* master_upgrade.c */
void	 master_upgrade_start(void);
void	 master_upgrade_exited(int);
void	 master_upgrade_cleanup(void);
void	 master_upgrade_unlink_oldbin(void);
void	 master_upgrade_take_pid_file(void);
void	 master_upgrade_adopt(const struct upgrade_state *);

/* master_hang.c */
void	 master_hang_start(void);
void	 master_hang_stop(void);

/* master_foreign.c: a socket on our ports that drover did not create. */
struct foreign_sock {
	char			 addr[ADDR_STRLEN];	/* the listen address */
	int			 udp;
	unsigned long		 ino;
	pid_t			 pid;		/* -1: not visible */
	char			 comm[32];	/* its program, or "?" */
};
void	 master_foreign_start(void);
void	 master_foreign_stop(void);
const struct foreign_sock *master_foreign_next(size_t *);

#endif
