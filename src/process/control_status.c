/*
 * control_status.c: the master's report for "status" (text) and "status
 * json": the master, its generations, their workers, the listen
 * addresses, and the connection counts from the stats region.
 *
 * Both start with the line "ok". The JSON object (one line) holds:
 *   master:      {pid, uptime, stopping, upgrading}
 *   generations: [{id, state, workers, age}]
 *   workers:     [{pid, generation, slot, state, uptime, active}]
 *   listeners:   [{server, protocol, address, generation}]
 *   foreign:     [{address, transport, inode, pid, comm}] sockets on our
 *                ports that drover did not create (pid -1: not visible)
 *   connections: {active, accepted, requests}
 *   reloads:     {ok, failed}
 * Times are whole seconds; states are "starting", "serving" or
 * "draining" (a generation) and "starting", "ready" or "draining" (a
 * worker).
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/conf.h"
#include "core/stats.h"
#include "process/control.h"
#include "process/master_int.h"

/* What the report says about the whole master, gathered once. */
struct ctl_totals {
	long			 uptime;
	struct stats_counters	 c;
	uint64_t		 reloads_ok;
	uint64_t		 reloads_failed;
};

/* Whole seconds since a CLOCK_MONOTONIC time. */
static long
control_age(const struct timespec *since)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((long)(now.tv_sec - since->tv_sec) -
	    (now.tv_nsec < since->tv_nsec));
}

static const char *
control_gen_state(enum gen_state s)
{
	switch (s) {
	case GEN_STARTING:
		return ("starting");
	case GEN_SERVING:
		return ("serving");
	default:
		return ("draining");
	}
}

static const char *
control_wproc_state(enum wproc_state s)
{
	switch (s) {
	case WPROC_STARTING:
		return ("starting");
	case WPROC_READY:
		return ("ready");
	default:
		return ("draining");
	}
}

/* A worker's open connections: its slot's series (0 if it has none). */
static unsigned long long
control_active(const struct wproc *wp)
{
	return ((unsigned long long)stats_series_active(m.stats, wp->gen->id,
	    wp->slot));
}

/* s as a JSON string. */
static void
control_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < ' ')
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The listen addresses of each generation that serves or starts. */
static void
control_listeners(FILE *f, int json)
{
	const struct generation		*g;
	const struct server_conf	*sc;
	char				 text[ADDR_STRLEN];
	size_t				 i, j;
	int				 n = 0;

	TAILQ_FOREACH(g, &m.gens, entry) {
		if (g->state == GEN_DRAINING || g->conf == NULL)
			continue;
		for (i = 0; i < g->conf->nservers; i++) {
			sc = &g->conf->servers[i];
			for (j = 0; j < sc->nlistens; j++) {
				addr_format(&sc->listens[j].addr, text,
				    sizeof(text));
				if (!json) {
					fprintf(f, "listener    %s (%s) %s, "
					    "generation %u\n", sc->name,
					    conf_protocol_name(sc->protocol),
					    text, g->id);
					continue;
				}
				fprintf(f, "%s{\"server\":", n++ ? "," : "");
				control_json_str(f, sc->name);
				fprintf(f, ",\"protocol\":\"%s\",\"address\":",
				    conf_protocol_name(sc->protocol));
				control_json_str(f, text);
				fprintf(f, ",\"generation\":%u}", g->id);
			}
		}
	}
}

/* The sockets on our ports that drover did not create (master_foreign.c). */
static void
control_foreign(FILE *f, int json)
{
	const struct foreign_sock	*fs;
	size_t				 i = 0;
	int				 n = 0;

	while ((fs = master_foreign_next(&i)) != NULL) {
		if (!json) {
			fprintf(f, "foreign     listen %s (%s): ", fs->addr,
			    fs->udp ? "udp" : "tcp");
			if (fs->pid == -1)
				fprintf(f, "pid unknown");
			else
				fprintf(f, "pid %ld (%s)", (long)fs->pid,
				    fs->comm);
			fprintf(f, ", inode %lu\n", fs->ino);
			continue;
		}
		fprintf(f, "%s{\"address\":", n++ ? "," : "");
		control_json_str(f, fs->addr);
		fprintf(f, ",\"transport\":\"%s\",\"inode\":%lu,\"pid\":%ld,"
		    "\"comm\":", fs->udp ? "udp" : "tcp", fs->ino,
		    (long)fs->pid);
		control_json_str(f, fs->comm);
		fputc('}', f);
	}
}

/* The report as text, one line per thing. */
static void
control_text(FILE *f, const struct ctl_totals *t)
{
	const struct generation	*g;
	const struct wproc	*wp;
	int			 n, nx;

	fprintf(f, "master      pid %ld, up %ld s%s%s\n", (long)getpid(),
	    t->uptime, m.stopping ? ", stopping" : "",
	    m.ev_upgrade != NULL ? ", binary upgrade running" : "");
	TAILQ_FOREACH(g, &m.gens, entry) {
		n = nx = 0;
		TAILQ_FOREACH(wp, &g->procs, entry) {
			if (wp->x != NULL)
				nx++;
			else
				n++;
		}
		fprintf(f, "generation  %u %s, %d workers", g->id,
		    control_gen_state(g->state), n);
		if (nx > 0)
			fprintf(f, ", %d exec processes", nx);
		fprintf(f, ", age %ld s\n", control_age(&g->created));
	}
	TAILQ_FOREACH(g, &m.gens, entry)
		TAILQ_FOREACH(wp, &g->procs, entry) {
			if (wp->x != NULL) {
				fprintf(f, "process     pid %ld, server %s, "
				    "generation %u, slot %d, %s, up %ld s%s%s"
				    "\n", (long)wp->pid, wp->x->sc->name, g->id,
				    wp->slot, control_wproc_state(wp->state),
				    control_age(&wp->started),
				    wp->x->status[0] ? ", status: " : "",
				    wp->x->status);
				continue;
			}
			fprintf(f, "worker      pid %ld, generation %u, slot %d, "
			    "%s, up %ld s, %llu connections\n", (long)wp->pid,
			    g->id, wp->slot, control_wproc_state(wp->state),
			    control_age(&wp->started), control_active(wp));
		}
	control_listeners(f, 0);
	control_foreign(f, 0);
	fprintf(f, "connections %llu active, %llu accepted, %llu requests\n",
	    (unsigned long long)t->c.active,
	    (unsigned long long)t->c.accepted,
	    (unsigned long long)t->c.requests);
	fprintf(f, "reloads     %llu ok, %llu failed\n",
	    (unsigned long long)t->reloads_ok,
	    (unsigned long long)t->reloads_failed);
}

/* The report as one JSON object (fields: at the top of this file). */
static void
control_json(FILE *f, const struct ctl_totals *t)
{
	const struct generation	*g;
	const struct wproc	*wp;
	int			 n, sep = 0;

	fprintf(f, "{\"master\":{\"pid\":%ld,\"uptime\":%ld,\"stopping\":%s,"
	    "\"upgrading\":%s},\"generations\":[", (long)getpid(), t->uptime,
	    m.stopping ? "true" : "false",
	    m.ev_upgrade != NULL ? "true" : "false");
	TAILQ_FOREACH(g, &m.gens, entry) {
		n = 0;
		TAILQ_FOREACH(wp, &g->procs, entry)
			n++;
		fprintf(f, "%s{\"id\":%u,\"state\":\"%s\",\"workers\":%d,"
		    "\"age\":%ld}", sep++ ? "," : "", g->id,
		    control_gen_state(g->state), n, control_age(&g->created));
	}
	fprintf(f, "],\"workers\":[");
	sep = 0;
	TAILQ_FOREACH(g, &m.gens, entry)
		TAILQ_FOREACH(wp, &g->procs, entry) {
			fprintf(f, "%s{\"pid\":%ld,\"generation\":%u,\"slot\":%d,"
			    "\"state\":\"%s\",\"uptime\":%ld,\"active\":%llu",
			    sep++ ? "," : "", (long)wp->pid, g->id, wp->slot,
			    control_wproc_state(wp->state),
			    control_age(&wp->started), wp->x != NULL ? 0 :
			    control_active(wp));
			if (wp->x != NULL) {
				fprintf(f, ",\"server\":");
				control_json_str(f, wp->x->sc->name);
				fprintf(f, ",\"status\":");
				control_json_str(f, wp->x->status);
			}
			fputc('}', f);
		}
	fprintf(f, "],\"listeners\":[");
	control_listeners(f, 1);
	fprintf(f, "],\"foreign\":[");
	control_foreign(f, 1);
	fprintf(f, "],\"connections\":{\"active\":%llu,\"accepted\":%llu,"
	    "\"requests\":%llu},\"reloads\":{\"ok\":%llu,\"failed\":%llu}}\n",
	    (unsigned long long)t->c.active,
	    (unsigned long long)t->c.accepted,
	    (unsigned long long)t->c.requests,
	    (unsigned long long)t->reloads_ok,
	    (unsigned long long)t->reloads_failed);
}

/*
 * The answer to "status" (json 0) or "status json" (1), malloc'd, its
 * length in *len; NULL if out of memory. started: this master's start.
 */
char *
control_status(int json, const struct timespec *started, size_t *len)
{
	struct ctl_totals	 t;
	char			*buf = NULL;
	FILE			*f;

	memset(&t, 0, sizeof(t));
	t.uptime = control_age(started);
	if (m.stats != NULL) {
		stats_total(m.stats, &t.c);
		t.reloads_ok = __atomic_load_n(&m.stats->reloads_ok,
		    __ATOMIC_RELAXED);
		t.reloads_failed = __atomic_load_n(&m.stats->reloads_failed,
		    __ATOMIC_RELAXED);
	}
	if ((f = open_memstream(&buf, len)) == NULL)
		return (NULL);
	fprintf(f, "ok\n");
	if (json)
		control_json(f, &t);
	else
		control_text(f, &t);
	if (fclose(f) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}
