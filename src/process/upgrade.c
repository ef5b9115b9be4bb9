/*
 * upgrade.c: the description of inherited sockets passed from an old
 * master to the new binary in the environment:
 *
 *   DROVER_UPGRADE=ready=FD[;control=FD];KEY=KEEPERFD,SLOT:FD,xSLOT:FD;KEY=...
 *
 * SLOT:FD is a worker slot's listener, xSLOT:FD an exec process slot's.
 * control=FD is the listening control socket (control.c), when there is
 * one; a KEY never starts with "control=" (it holds no '=').
 * KEY is the listen address as configured ("127.0.0.1:0", "[::1]:8080"),
 * after "udp " for a UDP one; it holds no ';', '=' or ','.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process/upgrade.h"

#define UPGRADE_MAX_SLOTS	4096

static int
upgrade_number(const char *s, const char **end, long max)
{
	char	*e;
	long	 v;

	errno = 0;
	v = strtol(s, &e, 10);
	if (e == s || errno != 0 || v < 0 || v > max)
		return (-1);
	*end = e;
	return ((int)v);
}

/* A descriptor we are told about must be an open socket. */
static int
upgrade_is_socket(int fd)
{
	int		 type;
	socklen_t	 len = sizeof(type);

	return (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    (type == SOCK_STREAM || type == SOCK_DGRAM));
}

static int
upgrade_parse_entry(char *entry, struct upgrade_listener *l, char *err,
    size_t errlen)
{
	const char	*p;
	char		*eq = strchr(entry, '=');
	int		 slot, fd, i, *nf, exec, **fds, *n;

	if (eq == NULL || (size_t)(eq - entry) >= sizeof(l->key)) {
		snprintf(err, errlen, "bad entry \"%s\"", entry);
		return (-1);
	}
	memcpy(l->key, entry, (size_t)(eq - entry));
	l->key[eq - entry] = '\0';
	l->slot_fds = l->xslot_fds = NULL;
	l->nslots = l->nxslots = 0;
	if ((l->keeper_fd = upgrade_number(eq + 1, &p, 1 << 20)) == -1 ||
	    !upgrade_is_socket(l->keeper_fd)) {
		snprintf(err, errlen, "%s: bad keeper descriptor", l->key);
		return (-1);
	}
	while (*p == ',') {
		exec = p[1] == 'x';
		fds = exec ? &l->xslot_fds : &l->slot_fds;
		n = exec ? &l->nxslots : &l->nslots;
		if ((slot = upgrade_number(p + 1 + exec, &p,
		    UPGRADE_MAX_SLOTS)) == -1 || *p != ':' ||
		    (fd = upgrade_number(p + 1, &p, 1 << 20)) == -1 ||
		    !upgrade_is_socket(fd)) {
			snprintf(err, errlen, "%s: bad slot listener", l->key);
			return (-1);
		}
		if (slot >= *n) {
			nf = realloc(*fds, (size_t)(slot + 1) * sizeof(*nf));
			if (nf == NULL) {
				snprintf(err, errlen, "out of memory");
				return (-1);
			}
			for (i = *n; i <= slot; i++)
				nf[i] = -1;
			*fds = nf;
			*n = slot + 1;
		}
		(*fds)[slot] = fd;
	}
	if (*p != '\0') {
		snprintf(err, errlen, "%s: trailing \"%s\"", l->key, p);
		return (-1);
	}
	return (0);
}

/* Parse the environment value; -1 with err on anything malformed. */
int
upgrade_parse(const char *env, struct upgrade_state *st, char *err,
    size_t errlen)
{
	struct upgrade_listener	*nl;
	char			*copy, *save = NULL, *entry;
	const char		*p;
	int			 rc = -1;

	memset(st, 0, sizeof(*st));
	st->readyfd = -1;
	st->controlfd = -1;
	if ((copy = strdup(env)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	entry = strtok_r(copy, ";", &save);
	if (entry == NULL || strncmp(entry, "ready=", 6) != 0 ||
	    (st->readyfd = upgrade_number(entry + 6, &p, 1 << 20)) == -1 ||
	    *p != '\0') {
		snprintf(err, errlen, "%s: no ready descriptor", UPGRADE_ENV);
		goto out;
	}
	while ((entry = strtok_r(NULL, ";", &save)) != NULL) {
		if (strncmp(entry, "control=", 8) == 0) {
			if (st->controlfd != -1 || (st->controlfd =
			    upgrade_number(entry + 8, &p, 1 << 20)) == -1 ||
			    *p != '\0' || !upgrade_is_socket(st->controlfd)) {
				snprintf(err, errlen, "bad control descriptor");
				goto out;
			}
			continue;
		}
		nl = realloc(st->ls, (st->n + 1) * sizeof(*nl));
		if (nl == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		st->ls = nl;
		if (upgrade_parse_entry(entry, &st->ls[st->n], err,
		    errlen) == -1) {
			free(st->ls[st->n].slot_fds);
			free(st->ls[st->n].xslot_fds);
			goto out;
		}
		st->n++;
	}
	rc = 0;
out:
	free(copy);
	if (rc == -1)
		upgrade_free(st);
	return (rc);
}

void
upgrade_free(struct upgrade_state *st)
{
	size_t	 i;

	for (i = 0; i < st->n; i++) {
		free(st->ls[i].slot_fds);
		free(st->ls[i].xslot_fds);
	}
	free(st->ls);
	st->ls = NULL;
	st->n = 0;
}

/* The environment value for st (malloc'd), or NULL. */
char *
upgrade_format(const struct upgrade_state *st)
{
	char	*buf = NULL;
	size_t	 len = 0, i;
	FILE	*f;
	int	 s;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return (NULL);
	fprintf(f, "ready=%d", st->readyfd);
	if (st->controlfd != -1)
		fprintf(f, ";control=%d", st->controlfd);
	for (i = 0; i < st->n; i++) {
		fprintf(f, ";%s=%d", st->ls[i].key, st->ls[i].keeper_fd);
		for (s = 0; s < st->ls[i].nslots; s++)
			if (st->ls[i].slot_fds[s] != -1)
				fprintf(f, ",%d:%d", s, st->ls[i].slot_fds[s]);
		for (s = 0; s < st->ls[i].nxslots; s++)
			if (st->ls[i].xslot_fds[s] != -1)
				fprintf(f, ",x%d:%d", s,
				    st->ls[i].xslot_fds[s]);
	}
	if (fclose(f) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}
