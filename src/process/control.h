/*
 * control.h: the master's control socket (control.c, control_status.c)
 * and the client that talks to it (control_client.c, for drover -s).
 *
 * A client sends one line: "reload", "upgrade", "status" or "status
 * json". The master answers "ok TEXT" or "error REASON" on the first
 * line (for status, the report follows) and closes the connection. A
 * reload or upgrade is answered once its outcome is known.
 */
#ifndef DROVER_CONTROL_H
#define DROVER_CONTROL_H

#include <stddef.h>
#include <time.h>

struct config;
struct upgrade_state;

#define CONTROL_LINE_MAX	256	/* a request, newline included */
#define CONTROL_NOBODY		(-2)	/* no master listens there */

/* control.c: the master's side */
int	 control_open(const struct config *, const struct upgrade_state *);
void	 control_listen(void);
void	 control_close(int);
int	 control_fd(void);
void	 control_reload_conf(const struct config *);
void	 control_reload_done(int, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 control_upgrade_done(int, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 control_stopping(void);
void	 control_settle(void);

/* control_status.c: the report for "status" and "status json" */
char	*control_status(int, const struct timespec *, size_t *);

/* control_client.c: drover -s */
int	 control_request(const char *, const char *, int, char **, char *,
	    size_t);

#endif
