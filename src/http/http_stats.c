/*
 * http_stats.c: "stats = json" and "stats = prometheus": the counters from
 * shared memory (stats.h) by server, generation and slot, per-generation
 * gauges, and totals that never go down (reloads, crashes, upgrades).
 * Series carry no pid: a slot's next worker counts on into its series,
 * and an ended generation's series are folded into the server's
 * generation="retired" series.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "http/http_handlers.h"
#include "core/stats.h"

static const char *const stats_class_names[STATS_NCLASSES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx"
};

/* A generation seen in the region, with its gauges. */
struct stats_gen {
	uint32_t		 id;
	int			 workers;
	int			 draining;	/* workers told to drain */
	struct stats_counters	 c;		/* its series summed */
};

/* What one request renders: a snapshot of the region. */
struct stats_view {
	const struct stats_shm	*shm;
	struct stats_series	*series;
	int			 nseries;
	struct stats_gen	*gens;
	int			 ngens;
	int			 workers;
	struct stats_counters	 total;
	struct stats_counters	 retired;	/* ended generations */
};

static struct stats_gen *
stats_view_gen(struct stats_view *v, uint32_t id)
{
	int	 i;

	for (i = 0; i < v->ngens; i++)
		if (v->gens[i].id == id)
			return (&v->gens[i]);
	memset(&v->gens[v->ngens], 0, sizeof(v->gens[0]));
	v->gens[v->ngens].id = id;
	return (&v->gens[v->ngens++]);
}

static int
stats_worker_live(const struct stats_worker *w)
{
	return (__atomic_load_n(&w->in_use, __ATOMIC_ACQUIRE) == 1);
}

/* Snapshot the series and add up the generations; -1 if out of memory. */
static int
stats_view_take(struct stats_view *v, const struct stats_shm *shm)
{
	const struct stats_worker	*w;
	struct stats_gen		*g;
	int				 i;

	memset(v, 0, sizeof(*v));
	v->shm = shm;
	if ((v->nseries = stats_snapshot(shm, &v->series)) == -1)
		return (-1);
	/* At most one generation per live series and per worker. */
	v->gens = calloc((size_t)v->nseries + STATS_MAX_WORKERS,
	    sizeof(*v->gens));
	if (v->gens == NULL)
		return (-1);
	for (i = 0; i < v->nseries; i++) {
		stats_add(&v->total, &v->series[i].c);
		if (v->series[i].slot < 0) {
			stats_add(&v->retired, &v->series[i].c);
			continue;
		}
		g = stats_view_gen(v, v->series[i].generation);
		stats_add(&g->c, &v->series[i].c);
	}
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		w = &shm->workers[i];
		if (!stats_worker_live(w))
			continue;
		g = stats_view_gen(v, w->generation);
		g->workers++;
		g->draining += __atomic_load_n(&w->draining,
		    __ATOMIC_RELAXED) != 0;
		v->workers++;
	}
	return (0);
}

static void
stats_view_free(struct stats_view *v)
{
	free(v->series);
	free(v->gens);
}

/* -- JSON ------------------------------------------------------------------ */

/* UDP's counters, after drain_closed wherever that is printed. */
static void
stats_json_datagrams(FILE *f, const struct stats_counters *c)
{
	fprintf(f, ",\"datagrams_in\":%" PRIu64 ",\"datagrams_out\":%" PRIu64
	    ",\"dropped_full\":%" PRIu64 ",\"dropped_upstream\":%" PRIu64
	    ",\"dropped_session\":%" PRIu64, c->datagrams_in,
	    c->datagrams_out, c->dropped_full, c->dropped_upstream,
	    c->dropped_session);
}

static void
stats_json_counters(FILE *f, const struct stats_counters *c)
{
	int	 i;

	fprintf(f, "\"accepted\":%" PRIu64 ",\"active\":%" PRIu64
	    ",\"requests\":%" PRIu64 ",\"responses\":{", c->accepted,
	    c->active, c->requests);
	for (i = 0; i < STATS_NCLASSES; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "",
		    stats_class_names[i], c->responses[i]);
	fprintf(f, "},\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	    ",\"handoff_out\":%" PRIu64 ",\"handoff_in\":%" PRIu64
	    ",\"drain_closed\":%" PRIu64 ",\"proxy_header_errors\":%" PRIu64,
	    c->bytes_in, c->bytes_out, c->handoff_out, c->handoff_in,
	    c->drain_closed, c->proxy_header_errors);
	stats_json_datagrams(f, c);
}

static void
stats_json_workers(FILE *f, const struct stats_shm *shm)
{
	const struct stats_worker	*w;
	int				 i, n = 0;

	fprintf(f, "\"workers\":[");
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		w = &shm->workers[i];
		if (!stats_worker_live(w))
			continue;
		fprintf(f, "%s{\"pid\":%d,\"generation\":%u,\"slot\":%d,"
		    "\"started\":%" PRId64 ",\"heartbeat\":%" PRId64
		    ",\"draining\":%s}", n++ ? "," : "", (int)w->pid,
		    w->generation, (int)w->slot, w->started,
		    __atomic_load_n(&w->heartbeat, __ATOMIC_RELAXED),
		    __atomic_load_n(&w->draining, __ATOMIC_RELAXED) ?
		    "true" : "false");
	}
	fputc(']', f);
}

/* Per server: its series summed, whichever generation. */
static void
stats_json_servers(FILE *f, const struct stats_view *v)
{
	struct stats_counters	 c;
	int			 i, j, n = 0;

	fprintf(f, ",\"servers\":{");
	for (i = 0; i < v->nseries; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(v->series[j].server,
			    v->series[i].server) == 0)
				break;
		if (j < i)
			continue;	/* done with its first series */
		memset(&c, 0, sizeof(c));
		for (j = i; j < v->nseries; j++)
			if (strcmp(v->series[j].server,
			    v->series[i].server) == 0)
				stats_add(&c, &v->series[j].c);
		fprintf(f, "%s\"%s\":{", n++ ? "," : "", v->series[i].server);
		stats_json_counters(f, &c);
		fputc('}', f);
	}
	fputc('}', f);
}

static void
stats_json(FILE *f, const struct stats_view *v)
{
	const struct stats_series	*s;
	const struct stats_gen		*g;
	int				 i, n = 0;

	fprintf(f, "{\"version\":\"%s\",\"started\":%" PRId64 ",",
	    PACKAGE_VERSION, v->shm->started);
	stats_json_workers(f, v->shm);
	fprintf(f, ",\"generations\":[");
	for (i = 0; i < v->ngens; i++) {
		g = &v->gens[i];
		fprintf(f, "%s{\"generation\":%u,\"workers\":%d,\"draining\":"
		    "%d,\"connections\":%" PRIu64 ",\"handoff_out\":%" PRIu64
		    ",\"handoff_in\":%" PRIu64 ",\"drain_closed\":%" PRIu64,
		    i ? "," : "", g->id, g->workers, g->draining,
		    g->c.active, g->c.handoff_out, g->c.handoff_in,
		    g->c.drain_closed);
		stats_json_datagrams(f, &g->c);
		fputc('}', f);
	}
	fprintf(f, "],\"series\":[");
	for (i = 0; i < v->nseries; i++) {
		s = &v->series[i];
		if (s->slot < 0)
			continue;
		fprintf(f, "%s{\"server\":\"%s\",\"generation\":%u,\"slot\":"
		    "%d,", n++ ? "," : "", s->server, s->generation, s->slot);
		stats_json_counters(f, &s->c);
		fputc('}', f);
	}
	fputc(']', f);
	stats_json_servers(f, v);
	fprintf(f, ",\"reloads\":{\"ok\":%" PRIu64 ",\"failed\":%" PRIu64
	    "},\"foreign_sockets\":{\"now\":%" PRIu32 ",\"seen\":%" PRIu64
	    "},\"retired\":{\"workers\":%" PRIu64 ",",
	    __atomic_load_n(&v->shm->reloads_ok, __ATOMIC_RELAXED),
	    __atomic_load_n(&v->shm->reloads_failed, __ATOMIC_RELAXED),
	    __atomic_load_n(&v->shm->foreign_sockets, __ATOMIC_RELAXED),
	    __atomic_load_n(&v->shm->foreign_seen, __ATOMIC_RELAXED),
	    __atomic_load_n(&v->shm->retired_workers, __ATOMIC_RELAXED));
	stats_json_counters(f, &v->retired);
	fprintf(f, "},\"total\":{");
	stats_json_counters(f, &v->total);
	fprintf(f, "}}\n");
}

/* -- Prometheus ------------------------------------------------------------ */

/* How many samples a metric has per series, and their extra label. */
enum prom_split {
	PROM_ONE = 0,
	PROM_BY_CLASS,		/* class="2xx": an array of STATS_NCLASSES */
	PROM_BY_CAUSE,		/* cause="...": prom_causes' fields */
};

struct prom_metric {
	const char	*name;
	const char	*type;
	const char	*help;
	size_t		 offset;
	enum prom_split	 split;
};

/* Why a datagram was dropped: one counter each, one metric for all. */
static const struct {
	const char	*cause;
	size_t		 offset;
} prom_causes[] = {
	{ "buffer_full", offsetof(struct stats_counters, dropped_full) },
	{ "upstream_down", offsetof(struct stats_counters, dropped_upstream) },
	{ "session_limit", offsetof(struct stats_counters, dropped_session) },
};

static const struct prom_metric prom_metrics[] = {
	{ "drover_connections_accepted_total", "counter",
	    "Connections accepted.",
	    offsetof(struct stats_counters, accepted), PROM_ONE },
	{ "drover_connections_active", "gauge",
	    "Connections open now.",
	    offsetof(struct stats_counters, active), PROM_ONE },
	{ "drover_requests_total", "counter",
	    "Requests received.",
	    offsetof(struct stats_counters, requests), PROM_ONE },
	{ "drover_responses_total", "counter",
	    "Responses sent, by status class.",
	    offsetof(struct stats_counters, responses), PROM_BY_CLASS },
	{ "drover_received_bytes_total", "counter",
	    "Bytes read from clients.",
	    offsetof(struct stats_counters, bytes_in), PROM_ONE },
	{ "drover_sent_bytes_total", "counter",
	    "Bytes sent to clients.",
	    offsetof(struct stats_counters, bytes_out), PROM_ONE },
	{ "drover_handoff_out_total", "counter",
	    "Idle connections handed to the serving generation by a drain.",
	    offsetof(struct stats_counters, handoff_out), PROM_ONE },
	{ "drover_handoff_in_total", "counter",
	    "Idle connections taken over from a draining generation.",
	    offsetof(struct stats_counters, handoff_in), PROM_ONE },
	{ "drover_drain_closed_total", "counter",
	    "Connections a drain closed because no worker could take them.",
	    offsetof(struct stats_counters, drain_closed), PROM_ONE },
	{ "drover_proxy_header_errors_total", "counter",
	    "Connections closed for a PROXY header malformed, missing, late "
	    "or cut short.",
	    offsetof(struct stats_counters, proxy_header_errors), PROM_ONE },
	{ "drover_datagrams_received_total", "counter",
	    "Datagrams read from clients.",
	    offsetof(struct stats_counters, datagrams_in), PROM_ONE },
	{ "drover_datagrams_sent_total", "counter",
	    "Datagrams sent to clients.",
	    offsetof(struct stats_counters, datagrams_out), PROM_ONE },
	{ "drover_datagrams_dropped_total", "counter",
	    "Datagrams dropped, by cause.", 0, PROM_BY_CAUSE },
};

static const uint64_t *
prom_field(const struct stats_counters *c, size_t offset)
{
	return ((const uint64_t *)(const void *)((const char *)c + offset));
}

static void
prom_sample(FILE *f, const struct prom_metric *m,
    const struct stats_counters *c, const char *labels)
{
	const uint64_t	*v = prom_field(c, m->offset);
	size_t		 i;

	switch (m->split) {
	case PROM_ONE:
		fprintf(f, "%s{%s} %" PRIu64 "\n", m->name, labels, v[0]);
		break;
	case PROM_BY_CLASS:
		for (i = 0; i < STATS_NCLASSES; i++)
			fprintf(f, "%s{%s,class=\"%s\"} %" PRIu64 "\n",
			    m->name, labels, stats_class_names[i], v[i]);
		break;
	case PROM_BY_CAUSE:
		for (i = 0; i < sizeof(prom_causes) / sizeof(prom_causes[0]);
		    i++)
			fprintf(f, "%s{%s,cause=\"%s\"} %" PRIu64 "\n",
			    m->name, labels, prom_causes[i].cause,
			    *prom_field(c, prom_causes[i].offset));
		break;
	}
}

static void
prom_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The per-generation gauges: one line per live generation. */
static void
prom_generations(FILE *f, const struct stats_view *v)
{
	static const struct {
		const char	*name, *help;
	} gauges[] = {
		{ "drover_generation_workers", "Worker processes running." },
		{ "drover_generation_draining_workers",
		    "Workers told to drain." },
		{ "drover_generation_connections", "Connections open now." },
		{ "drover_generation_handoff_out",
		    "Idle connections this generation handed on." },
		{ "drover_generation_handoff_in",
		    "Idle connections this generation took over." },
		{ "drover_generation_drain_closed",
		    "Connections this generation's drain closed." },
	};
	const struct stats_gen	*g;
	uint64_t		 val[6];
	size_t			 k;
	int			 i;

	for (k = 0; k < sizeof(gauges) / sizeof(gauges[0]); k++) {
		prom_head(f, gauges[k].name, "gauge", gauges[k].help);
		for (i = 0; i < v->ngens; i++) {
			g = &v->gens[i];
			val[0] = (uint64_t)g->workers;
			val[1] = (uint64_t)g->draining;
			val[2] = g->c.active;
			val[3] = g->c.handoff_out;
			val[4] = g->c.handoff_in;
			val[5] = g->c.drain_closed;
			fprintf(f, "%s{generation=\"%u\"} %" PRIu64 "\n",
			    gauges[k].name, g->id, val[k]);
		}
	}
}

/* A series' labels: server, generation, slot (never a pid). */
static void
prom_labels(char *buf, size_t len, const struct stats_series *s)
{
	if (s->slot < 0)
		snprintf(buf, len, "server=\"%s\",generation=\"retired\","
		    "slot=\"retired\"", s->server);
	else
		snprintf(buf, len, "server=\"%s\",generation=\"%u\","
		    "slot=\"%d\"", s->server, s->generation, s->slot);
}

/* Prometheus text format. generation="retired" carries the ended
 * generations, so a sum over a server's series never goes backwards. */
static void
stats_prometheus(FILE *f, const struct stats_view *v)
{
	const struct prom_metric	*pm;
	const struct stats_series	*s;
	char				 labels[160];
	size_t				 m;
	int				 i, counter;

	for (m = 0; m < sizeof(prom_metrics) / sizeof(prom_metrics[0]); m++) {
		pm = &prom_metrics[m];
		counter = strcmp(pm->type, "counter") == 0;
		prom_head(f, pm->name, pm->type, pm->help);
		for (i = 0; i < v->nseries; i++) {
			s = &v->series[i];
			if (s->slot < 0 && !counter)
				continue;	/* retired: nothing open */
			prom_labels(labels, sizeof(labels), s);
			prom_sample(f, pm, &s->c, labels);
		}
	}
	prom_generations(f, v);
	prom_head(f, "drover_workers", "gauge", "Worker processes running.");
	fprintf(f, "drover_workers %d\n", v->workers);
	prom_head(f, "drover_workers_exited_total", "counter",
	    "Worker processes that have exited, for any reason.");
	fprintf(f, "drover_workers_exited_total %" PRIu64 "\n",
	    __atomic_load_n(&v->shm->retired_workers, __ATOMIC_RELAXED));
	prom_head(f, "drover_reloads_total", "counter",
	    "Reloads and binary upgrades, by outcome.");
	fprintf(f, "drover_reloads_total{outcome=\"ok\"} %" PRIu64 "\n"
	    "drover_reloads_total{outcome=\"failed\"} %" PRIu64 "\n",
	    __atomic_load_n(&v->shm->reloads_ok, __ATOMIC_RELAXED),
	    __atomic_load_n(&v->shm->reloads_failed, __ATOMIC_RELAXED));
	prom_head(f, "drover_foreign_sockets", "gauge",
	    "Sockets of other processes in drover's reuseport groups now.");
	fprintf(f, "drover_foreign_sockets %" PRIu32 "\n",
	    __atomic_load_n(&v->shm->foreign_sockets, __ATOMIC_RELAXED));
	prom_head(f, "drover_foreign_sockets_seen_total", "counter",
	    "Sockets of other processes ever noticed in drover's reuseport "
	    "groups.");
	fprintf(f, "drover_foreign_sockets_seen_total %" PRIu64 "\n",
	    __atomic_load_n(&v->shm->foreign_seen, __ATOMIC_RELAXED));
}

static enum http_hres
http_stats_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t plen)
{
	struct stats_view	 v;
	FILE			*f;
	char			*buf = NULL;
	size_t			 len = 0;

	(void)path;
	(void)plen;
	if (stats_region == NULL) {
		http_response_error(c, 503);
		return (HTTP_HANDLER_DONE);
	}
	if (stats_view_take(&v, stats_region) == -1 ||
	    (f = open_memstream(&buf, &len)) == NULL) {
		stats_view_free(&v);
		http_response_error(c, 500);
		return (HTTP_HANDLER_DONE);
	}
	if (lc->stats == STATS_FORMAT_JSON)
		stats_json(f, &v);
	else
		stats_prometheus(f, &v);
	stats_view_free(&v);
	if (fclose(f) != 0) {
		free(buf);
		http_response_error(c, 500);
		return (HTTP_HANDLER_DONE);
	}
	http_response_simple(c, 200, lc->stats == STATS_FORMAT_JSON ?
	    "application/json" : "text/plain; version=0.0.4; charset=utf-8",
	    buf, len);
	free(buf);
	return (HTTP_HANDLER_DONE);
}

const struct http_handler http_stats_handler = {
	.name = "stats",
	.start = http_stats_start,
};
