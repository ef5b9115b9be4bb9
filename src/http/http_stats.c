/*
 * http_stats.c: "stats = json" and "stats = prometheus": the per-worker
 * counters from shared memory (stats.c), per worker and summed.
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
	fprintf(f, "},\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64,
	    c->bytes_in, c->bytes_out);
}

static void
stats_json(FILE *f, const struct stats_shm *shm)
{
	const struct stats_worker	*w;
	struct stats_counters		 c;
	int				 i, n = 0;

	fprintf(f, "{\"version\":\"%s\",\"started\":%" PRId64
	    ",\"workers\":[", PACKAGE_VERSION, shm->started);
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		w = &shm->workers[i];
		if (!__atomic_load_n(&w->in_use, __ATOMIC_ACQUIRE))
			continue;
		stats_read(&w->c, &c);
		fprintf(f, "%s{\"pid\":%d,\"generation\":%u,\"slot\":%d,"
		    "\"started\":%" PRId64 ",", n++ ? "," : "",
		    (int)w->pid, w->generation, (int)w->slot, w->started);
		stats_json_counters(f, &c);
		fputc('}', f);
	}
	stats_read(&shm->retired, &c);
	fprintf(f, "],\"retired\":{\"workers\":%" PRIu64 ",",
	    __atomic_load_n(&shm->retired_workers, __ATOMIC_RELAXED));
	stats_json_counters(f, &c);
	stats_total(shm, &c);
	fprintf(f, "},\"total\":{");
	stats_json_counters(f, &c);
	fprintf(f, "}}\n");
}

struct prom_metric {
	const char	*name;
	const char	*type;
	const char	*help;
	size_t		 offset;
	int		 by_class;
};

static const struct prom_metric prom_metrics[] = {
	{ "drover_connections_accepted_total", "counter",
	    "Connections accepted.",
	    offsetof(struct stats_counters, accepted), 0 },
	{ "drover_connections_active", "gauge",
	    "Connections open now.",
	    offsetof(struct stats_counters, active), 0 },
	{ "drover_requests_total", "counter",
	    "Requests received.",
	    offsetof(struct stats_counters, requests), 0 },
	{ "drover_responses_total", "counter",
	    "Responses sent, by status class.",
	    offsetof(struct stats_counters, responses), 1 },
	{ "drover_received_bytes_total", "counter",
	    "Bytes read from clients.",
	    offsetof(struct stats_counters, bytes_in), 0 },
	{ "drover_sent_bytes_total", "counter",
	    "Bytes sent to clients.",
	    offsetof(struct stats_counters, bytes_out), 0 },
};

static void
prom_sample(FILE *f, const struct prom_metric *m,
    const struct stats_counters *c, const char *labels)
{
	const uint64_t	*v = (const uint64_t *)(const void *)
			     ((const char *)c + m->offset);
	int		 i;

	if (!m->by_class) {
		fprintf(f, "%s{%s} %" PRIu64 "\n", m->name, labels, v[0]);
		return;
	}
	for (i = 0; i < STATS_NCLASSES; i++)
		fprintf(f, "%s{%s,class=\"%s\"} %" PRIu64 "\n", m->name,
		    labels, stats_class_names[i], v[i]);
}

/* Prometheus text format; "worker=retired" carries exited workers, so a
 * sum over worker never goes backwards when a worker is replaced. */
static void
stats_prometheus(FILE *f, const struct stats_shm *shm)
{
	const struct stats_worker	*w;
	struct stats_counters		 c;
	char				 labels[128];
	size_t				 m;
	int				 i, live = 0;

	for (m = 0; m < sizeof(prom_metrics) / sizeof(prom_metrics[0]); m++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", prom_metrics[m].name,
		    prom_metrics[m].help, prom_metrics[m].name,
		    prom_metrics[m].type);
		for (i = 0; i < STATS_MAX_WORKERS; i++) {
			w = &shm->workers[i];
			if (!__atomic_load_n(&w->in_use, __ATOMIC_ACQUIRE))
				continue;
			if (m == 0)
				live++;
			stats_read(&w->c, &c);
			snprintf(labels, sizeof(labels), "worker=\"%d\","
			    "generation=\"%u\",slot=\"%d\"", (int)w->pid,
			    w->generation, (int)w->slot);
			prom_sample(f, &prom_metrics[m], &c, labels);
		}
		if (strcmp(prom_metrics[m].type, "counter") == 0) {
			stats_read(&shm->retired, &c);
			prom_sample(f, &prom_metrics[m], &c,
			    "worker=\"retired\"");
		}
	}
	fprintf(f, "# HELP drover_workers Worker processes running.\n"
	    "# TYPE drover_workers gauge\ndrover_workers %d\n", live);
}

static enum http_hres
http_stats_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t plen)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0;

	(void)path;
	(void)plen;
	if (stats_region == NULL) {
		http_response_error(c, 503);
		return (HTTP_HANDLER_DONE);
	}
	if ((f = open_memstream(&buf, &len)) == NULL) {
		http_response_error(c, 500);
		return (HTTP_HANDLER_DONE);
	}
	if (lc->stats == STATS_FORMAT_JSON)
		stats_json(f, stats_region);
	else
		stats_prometheus(f, stats_region);
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
