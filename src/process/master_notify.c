/*
 * master_notify.c: what the master tells the service manager (systemd's
 * Type=notify, through core/notify.c), and its watchdog pings.
 *
 *   start:   MAINPID=<pid>, READY=1, STATUS= once the first generation serves
 *   reload:  RELOADING=1 with MONOTONIC_USEC= at SIGHUP, in one datagram as
 *            systemd requires; READY=1 and STATUS= when the reload is over,
 *            whether it served or failed (the old generation still serves)
 *   stop:    STOPPING=1
 *   upgrade: the new master sends MAINPID= and READY=1 when it serves, and
 *            before it releases the old master, so the manager never sees
 *            its main process exit without knowing the new one; the old
 *            master then stays silent (a STOPPING=1 from it would stop the
 *            service the new master runs).
 *
 * Only the master talks: workers forget $NOTIFY_SOCKET when they start.
 * The watchdog is fed from the master's own loop, so a master that stalls
 * (stopped, stuck) stops feeding it and the manager can act.
 */
#include "autoconf.h"

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/notify.h"
#include "process/master_int.h"

static struct event	*ev_watchdog;

/* "generation N serving, W workers", for STATUS=. */
static void
master_notify_status(char *buf, size_t len)
{
	if (m.current != NULL)
		snprintf(buf, len, "generation %u serving, %s",
		    m.current->id, gen_procs_text(m.current));
	else
		snprintf(buf, len, "no generation serving");
}

/* WATCHDOG_USEC/2 passed: we are alive (unless we handed over). */
static void
master_notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	if (m.upgraded) {
		/* The new master feeds it now; our pings would hide it if
		 * it stalled. */
		event_del(ev_watchdog);
		return;
	}
	(void)notify_send("WATCHDOG=1");
}

/* Start feeding the watchdog when the manager asks for it. */
void
master_notify_init(void)
{
	struct timeval	 tv;
	uint64_t	 usec, half;

	if ((usec = notify_watchdog_usec()) == 0)
		return;
	half = usec / 2 > 0 ? usec / 2 : 1;
	tv.tv_sec = (time_t)(half / 1000000u);
	tv.tv_usec = (suseconds_t)(half % 1000000u);
	ev_watchdog = event_new(m.base, -1, EV_PERSIST,
	    master_notify_watchdog_cb, NULL);
	if (ev_watchdog == NULL || event_add(ev_watchdog, &tv) == -1) {
		log_warnx("watchdog: cannot arm the timer: the service "
		    "manager will think this master hangs");
		return;
	}
	log_info("watchdog: telling the service manager every %llu ms",
	    (unsigned long long)(half / 1000u));
}

/* The first generation serves (at start, or the new master of an upgrade). */
void
master_notify_started(void)
{
	char	 status[128];

	master_notify_status(status, sizeof(status));
	/* MAINPID first: the manager reads the fields in order. */
	(void)notify_sendf("MAINPID=%ld\nREADY=1\nSTATUS=%s", (long)getpid(),
	    status);
}

/* SIGHUP: a reload starts; master_notify_reloaded() follows. */
void
master_notify_reloading(void)
{
	(void)notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)notify_monotonic_usec());
}

/* A reload is over: the new generation serves (ok) or the old one does. */
void
master_notify_reloaded(int ok)
{
	char	 status[128];

	master_notify_status(status, sizeof(status));
	(void)notify_sendf("READY=1\nSTATUS=%s%s", ok ? "" : "reload failed; ",
	    status);
}

/*
 * The master stops. Not when a new master of an upgrade is the service
 * now, nor when this is a new master that failed before it served: the
 * old one still serves, and the manager would stop the service.
 */
void
master_notify_stopping(void)
{
	if (m.upgraded || (m.opts.upgrade != NULL && !m.started))
		return;
	(void)notify_send("STOPPING=1\nSTATUS=stopping");
}

/* The loop is over (or we are a new worker): no more pings. */
void
master_notify_cleanup(void)
{
	if (ev_watchdog != NULL)
		event_free(ev_watchdog);
	ev_watchdog = NULL;
}

/* In a new worker: it never talks to the manager. */
void
master_notify_forget(void)
{
	master_notify_cleanup();
	notify_forget();
}
