/* check_config.c: reading and checking configuration files. */
#include "autoconf.h"

#include <sys/stat.h>

#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/conf_int.h"
#include "http/http.h"
#include "checklib.h"

static char	 dir[] = "/tmp/check_config.XXXXXX";
static char	 path[4096];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/drover.conf", dir);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/check_config.XXXXXX");
}

static void
write_file(const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static struct config *
load(const char *text, char *err, size_t errlen)
{
	write_file(text);
	return (conf_load(path, err, errlen));
}

/* The example from the issue, exactly as written. */
static const char example[] =
    "workers = auto\n"
    "daemon = true\n"
    "pid_file = \"/run/drover.pid\"\n"
    "ports_file = \"/run/drover.ports\"\n"
    "error_log = \"/var/log/drover/error.log\"\n"
    "log_level = info\n"
    "shutdown_timeout = 30\n"
    "\n"
    "server echo {\n"
    "    listen = {\"127.0.0.1:7000\", \"[::1]:7000\"}\n"
    "    protocol = echo\n"
    "    backlog = 511\n"
    "}\n";

START_TEST(test_example_means_what_it_says)
{
	struct config		*c;
	struct server_conf	*s;
	char			 err[1024];

	c = load(example, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert(c->workers_auto);
	ck_assert_int_eq(c->workers, conf_online_cpus());
	ck_assert(c->daemon);
	ck_assert_str_eq(c->pid_file, "/run/drover.pid");
	ck_assert_str_eq(c->ports_file, "/run/drover.ports");
	ck_assert_str_eq(c->error_log, "/var/log/drover/error.log");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(c->shutdown_timeout, 30);
	ck_assert_uint_eq(c->nservers, 1);
	s = &c->servers[0];
	ck_assert_str_eq(s->name, "echo");
	ck_assert_int_eq(s->protocol, PROTO_ECHO);
	ck_assert_int_eq(s->backlog, 511);
	ck_assert_uint_eq(s->nlistens, 2);
	ck_assert_str_eq(s->listens[0].text, "127.0.0.1:7000");
	ck_assert_str_eq(s->listens[1].text, "[::1]:7000");
	ck_assert_int_eq(addr_port(&s->listens[1].addr), 7000);
	conf_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct config	*c;
	char		 err[1024];

	c = load("server e {\n listen = {\"127.0.0.1:0\"}\n"
	    " protocol = echo\n}\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert(c->workers_auto);
	ck_assert(c->daemon);
	ck_assert_ptr_null(c->pid_file);
	ck_assert_ptr_null(c->ports_file);
	ck_assert_ptr_null(c->control_socket);	/* no pid_file to go by */
	ck_assert_str_eq(c->error_log, "stderr");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_ptr_null(c->user);
	ck_assert_ptr_null(c->group);
	ck_assert_int_eq(c->shutdown_timeout, 30);
	ck_assert_int_eq(c->ready_timeout, 10);
	ck_assert_int_eq(c->worker_hang_timeout, 30);
	ck_assert_int_eq(c->rlimit_nofile, 0);
	ck_assert_int_eq(c->servers[0].backlog, 511);
	ck_assert_int_eq(c->servers[0].idle_timeout, 60);
	conf_free(c);
}
END_TEST

START_TEST(test_values_and_relative_paths)
{
	struct config	*c;
	char		 err[1024], want[4200], text[1024];
	struct passwd	*pw = getpwuid(getuid());
	struct group	*gr = getgrgid(getgid());

	/* user and group must exist: ours do. */
	ck_assert_ptr_nonnull(pw);
	ck_assert_ptr_nonnull(gr);
	snprintf(text, sizeof(text), "workers = 4\ndaemon = false\n"
	    "pid_file = \"run/d.pid\"\n"
	    "ports_file = \"d.ports\"\nerror_log = \"syslog\"\n"
	    "log_level = debug\nuser = \"%s\"\ngroup = \"%s\"\n"
	    "shutdown_timeout = 1\nready_timeout = 3600\n"
	    "worker_hang_timeout = 0\nrlimit_nofile = 65536\n"
	    "server a {\n listen = {\"*:0\"}\n protocol = echo\n"
	    " backlog = 1\n idle_timeout = 86400\n}\n"
	    "server b {\n listen = {\"[::]:0\"}\n protocol = echo\n}\n",
	    pw->pw_name, gr->gr_name);
	c = load(text, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert(!c->workers_auto);
	ck_assert_int_eq(c->workers, 4);
	ck_assert(!c->daemon);
	snprintf(want, sizeof(want), "%s/run/d.pid", dir);
	ck_assert_str_eq(c->pid_file, want);
	snprintf(want, sizeof(want), "%s/d.ports", dir);
	ck_assert_str_eq(c->ports_file, want);
	snprintf(want, sizeof(want), "%s/run/d.sock", dir);
	ck_assert_str_eq(c->control_socket, want);	/* beside pid_file */
	ck_assert_str_eq(c->error_log, "syslog");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_str_eq(c->user, pw->pw_name);
	ck_assert_str_eq(c->group, gr->gr_name);
	ck_assert_int_eq(c->shutdown_timeout, 1);
	ck_assert_int_eq(c->ready_timeout, 3600);
	ck_assert_int_eq(c->worker_hang_timeout, 0);
	ck_assert_int_eq(c->rlimit_nofile, 65536);
	ck_assert_uint_eq(c->nservers, 2);
	ck_assert_int_eq(c->servers[0].backlog, 1);
	ck_assert_int_eq(c->servers[0].idle_timeout, 86400);
	ck_assert_str_eq(c->servers[0].listens[0].text, "0.0.0.0:0");
	ck_assert_str_eq(c->servers[1].name, "b");
	conf_free(c);
}
END_TEST

/* control_socket: as set (relative to the file), else beside pid_file. */
START_TEST(test_control_socket)
{
	struct config	*c;
	char		 err[1024], want[4200];

	c = load("pid_file = \"/run/drover\"\ncontrol_socket = \"c/ctl\"\n"
	    "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n}\n",
	    err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	snprintf(want, sizeof(want), "%s/c/ctl", dir);
	ck_assert_str_eq(c->control_socket, want);
	conf_free(c);
	c = load("pid_file = \"/run/drover\"\n"
	    "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n}\n",
	    err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->control_socket, "/run/drover.sock");
	conf_free(c);
	c = load("pid_file = \"/run/d.pid.pid\"\n"
	    "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n}\n",
	    err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->control_socket, "/run/d.pid.sock");
	conf_free(c);
}
END_TEST

/* An http server whose only location is / with the lines l. */
#define HTTP_LOC(l)	"server w {\n listen = {\"127.0.0.1:0\"}\n" \
			" protocol = http\n location / {\n" l " }\n}\n"

START_TEST(test_location_echo_body)
{
	struct config		*c;
	struct location_conf	*lc;
	char			 err[1024];

	c = load(HTTP_LOC("  echo_body = on\n"), err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->servers[0].nlocations, 1);
	lc = &c->servers[0].locations[0];
	ck_assert_str_eq(lc->prefix, "/");
	ck_assert_int_eq(lc->handler, LOC_ECHO_BODY);
	ck_assert_int_eq(lc->delay_ms, 0);
	conf_free(c);
}
END_TEST

struct delay_case {
	const char	*text;		/* the location's lines */
	int		 handler;
	int		 delay_ms;
};

static const struct delay_case delays[] = {
	{ "  echo_body = on\n  delay = 0.25\n", LOC_ECHO_BODY, 250 },
	{ "  return = \"204\"\n  delay = 0.25\n", LOC_RETURN, 250 },
	{ "  echo_body = on\n  delay = 0.0016\n", LOC_ECHO_BODY, 2 },
	{ "  echo_body = on\n  delay = 0.0004\n", LOC_ECHO_BODY, 0 },
	{ "  echo_body = on\n  delay = 0\n", LOC_ECHO_BODY, 0 },
	{ "  echo_body = on\n  delay = 3\n", LOC_ECHO_BODY, 3000 },
	{ "  echo_body = on\n  delay = 3600\n", LOC_ECHO_BODY, 3600000 },
};

/* delay = SECONDS is kept in milliseconds, rounded to the nearest. */
START_TEST(test_location_delay)
{
	const struct delay_case	*d = &delays[_i];
	struct config		*c;
	struct location_conf	*lc;
	char			 err[1024], text[512];

	snprintf(text, sizeof(text), HTTP_LOC("%s"), d->text);
	c = load(text, err, sizeof(err));
	ck_assert_msg(c != NULL, "case %d: %s", _i, err);
	lc = &c->servers[0].locations[0];
	ck_assert_int_eq(lc->handler, d->handler);
	ck_assert_msg(lc->delay_ms == d->delay_ms, "case %d: delay_ms %d, "
	    "want %d", _i, lc->delay_ms, d->delay_ms);
	conf_free(c);
}
END_TEST

struct bad_case {
	const char	*text;
	int		 line;		/* expected FILE:LINE, 0: no line */
	const char	*error;		/* a substring of the message */
};

#define ECHO(l)	"server e {\n listen = {" l "}\n protocol = echo\n}\n"
#define OK_SERVER	ECHO("\"127.0.0.1:0\"")
#define LONG_NAME	"012345678901234567890123456789012345678901234567890123456789"

#define UP(keys)	"upstream app {\n" keys "}\n"

#define EXEC(keys)	"server x {\n listen = {\"127.0.0.1:0\"}\n" keys \
			" protocol = exec\n}\n"

static const struct bad_case bad[] = {
	{ "worker = 2\n" OK_SERVER, 1, "no such option 'worker'" },
	{ OK_SERVER "server f {\n listen = {\"127.0.0.1:1\"}\n"
	  " protocol = echo\n colour = blue\n}\n", 8, "colour" },
	{ "workers = 0\n" OK_SERVER, 1, "expected auto or a number" },
	/* Comments must not throw line numbers off (libconfuse 3.3 bug). */
	{ "# one\n# two\n// three\n/* four\nfive */\nworkers = 0\n"
	  OK_SERVER, 6, "expected auto or a number" },
	{ "pid_file = \"a#b\" # comment\nworkers = x\n" OK_SERVER, 2,
	  "expected auto" },
	{ "\nworkers = 513\n" OK_SERVER, 2, "expected auto or a number" },
	{ "workers = x\n" OK_SERVER, 1, "expected auto or a number" },
	{ "log_level = loud\n" OK_SERVER, 1, "log_level = \"loud\"" },
	{ "shutdown_timeout = 0\n" OK_SERVER, 1, "out of range (1 to 86400)" },
	{ "shutdown_timeout = 86401\n" OK_SERVER, 1, "out of range" },
	{ "ready_timeout = 0\n" OK_SERVER, 1, "out of range" },
	{ "\nworker_hang_timeout = 1\n" OK_SERVER, 2,
	  "worker_hang_timeout = 1 is out of range (2 to 86400)" },
	{ "worker_hang_timeout = -1\n" OK_SERVER, 1, "out of range" },
	{ "worker_hang_timeout = 86401\n" OK_SERVER, 1, "out of range" },
	{ "rlimit_nofile = -1\n" OK_SERVER, 1, "out of range" },
	{ "daemon = perhaps\n" OK_SERVER, 1, "daemon" },
	{ "pid_file = \"\"\n" OK_SERVER, 1, "must not be empty" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n"
	  " backlog = 0\n}\n", 4, "backlog = 0 is out of range" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n"
	  " backlog = 65536\n}\n", 4, "out of range" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = gopher\n}\n",
	  3, "unknown protocol" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n}\n", 3, "no protocol" },
	{ "server e {\n protocol = echo\n}\n", 3, "no listen address" },
	{ "server e {\n listen = {}\n protocol = echo\n}\n", 4,
	  "no listen address" },
	{ ECHO("\"localhost:80\""), 2, "not a numeric IPv4 address" },
	{ ECHO("\"127.0.0.1\""), 2, "expected HOST:PORT" },
	{ ECHO("\"127.0.0.1:99999\""), 2, "port must be a number" },
	{ ECHO("\"[::1:80\""), 2, "expected [IPV6]:PORT" },
	{ ECHO("\"::1:80\""), 2, "brackets" },
	{ ECHO("\"127.0.0.1:80\", \"127.0.0.1:80\""), 2, "listed twice" },
	{ ECHO("\"127.0.0.1:80\"") "server f {\n listen = {\"127.0.0.1:80\"}"
	  "\n protocol = echo\n}\n", 8, "already used by server e" },
	{ OK_SERVER "server e {\n listen = {\"127.0.0.1:1\"}\n"
	  " protocol = echo\n}\n", 5, "duplicate" },
	{ "server \"a b\" {\n listen = {\"127.0.0.1:1\"}\n protocol = echo\n"
	  "}\n", 4, "a name is" },
	{ "workers = 2\n", 0, "no server section" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n", 4,
	  "not closed" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n}\n}\n",
	  5, "unexpected closing brace" },
	{ "server e {\n listen = {\"127.0.0.1:0\"\n protocol = echo\n}\n", 3,
	  "unexpected token" },
	/* A location has exactly one handler; echo_body = off is none. */
	{ HTTP_LOC("  echo_body = on\n  return = \"204\"\n"), 7,
	  "location /: needs exactly one of return, root, stats, echo_body "
	  "or proxy (has 2)" },
	{ HTTP_LOC("  echo_body = off\n"), 6,
	  "location /: needs exactly one of return, root, stats, echo_body "
	  "or proxy (has 0)" },
	/* delay only modifies a handler, within 0 to 3600 seconds. */
	{ HTTP_LOC("  echo_body = on\n  delay = -1\n"), 7,
	  "location /: delay = -1 is out of range (0 to 3600 seconds)" },
	{ HTTP_LOC("  echo_body = on\n  delay = 4000\n"), 7,
	  "location /: delay = 4000 is out of range (0 to 3600 seconds)" },
	{ HTTP_LOC("  delay = 1\n"), 6,
	  "location /: needs exactly one of return, root, stats, echo_body "
	  "or proxy (has 0)" },
	/* return: only final statuses that frame like any other response. */
	{ HTTP_LOC("  return = \"100\"\n"), 5, "1xx" },
	{ HTTP_LOC("  return = \"101 up\"\n"), 5, "1xx" },
	{ HTTP_LOC("  return = \"103\"\n"), 5, "1xx" },
	{ HTTP_LOC("  return = \"204 text\"\n"), 5, "204 has no body" },
	{ HTTP_LOC("  return = \"205 text\"\n"), 5, "205 has no body" },
	{ HTTP_LOC("  return = \"304 text\"\n"), 5, "304 has no body" },
	{ HTTP_LOC("  return = \"299\"\n"), 5, "not a registered status" },
	{ HTTP_LOC("  return = \"306 x\"\n"), 5, "not a registered status" },
	{ HTTP_LOC("  return = \"418\"\n"), 5, "not a registered status" },
	{ HTTP_LOC("  return = \"599\"\n"), 5, "not a registered status" },
	{ HTTP_LOC("  return = \"600\"\n"), 5, "expected \"STATUS [TEXT]\"" },
	{ HTTP_LOC("  return = \"301\"\n"), 5, "301 needs a target" },
	{ HTTP_LOC("  return = \"302 http://a/\\r\\nSet-Cookie: x=1\"\n"), 5,
	  "control character" },
	{ HTTP_LOC("  return = \"308 /a\\nb\"\n"), 5, "control character" },
	{ HTTP_LOC("  return = \"307 /a\\tb\"\n"), 5, "control character" },
	{ HTTP_LOC("  return = \"303 /a\\x7f\"\n"), 5, "control character" },
	{ HTTP_LOC("  return = \"200 a\\x01b\"\n"), 5, "control character" },
	{ HTTP_LOC("  return = \"200 two\\nlines\"\n"), 5,
	  "control character" },
	/* Overlapping listeners fail at start-up: refuse them here. */
	{ ECHO("\"127.0.0.1:8080\"") "server f {\n listen = {\"*:8080\"}\n"
	  " protocol = echo\n}\n", 8, "overlaps \"127.0.0.1:8080\" of "
	  "server e" },
	{ ECHO("\"*:8080\"") "server f {\n listen = {\"127.0.0.1:8080\"}\n"
	  " protocol = echo\n}\n", 8, "overlaps" },
	{ ECHO("\"[::1]:8080\"") "server f {\n listen = {\"[::]:8080\"}\n"
	  " protocol = echo\n}\n", 8, "overlaps" },
	{ ECHO("\"0.0.0.0:8080\", \"127.0.0.1:8080\""), 2, "overlaps" },
	/* A key given twice in one section: no silent last-one-wins. */
	{ "workers = 2\nlog_level = info\nworkers = 3\n" OK_SERVER, 3,
	  "workers is set twice (first on line 1)" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n"
	  " backlog = 1\n backlog = 2\n}\n", 5,
	  "backlog is set twice (first on line 4)" },
	{ "server e {\n listen = {\"127.0.0.1:0\"}\n protocol = echo\n"
	  " listen = {\"127.0.0.1:1\"}\n}\n", 4,
	  "listen is set twice (first on line 2)" },
	{ HTTP_LOC("  return = \"200 a\"\n  index = \"x\"\n"
	  "  index = \"y\"\n"), 7, "index is set twice (first on line 6)" },
	{ "daemon = false\n\ndaemon = true\n" OK_SERVER, 3, "set twice" },
	/* An unclosed comment would swallow the rest of the file. */
	{ OK_SERVER "\n/* the end\nworkers = 2\n", 6,
	  "comment opened here is not closed" },
	{ "workers = 2 /* x */ /*\n" OK_SERVER, 1,
	  "comment opened here is not closed" },
	/* user and group must exist. */
	{ "\nuser = \"no-such-user-drover\"\n" OK_SERVER, 2,
	  "user \"no-such-user-drover\": no such user" },
	{ "\n\ngroup = \"no-such-group-drover\"\n" OK_SERVER, 3,
	  "group \"no-such-group-drover\": no such group" },
	{ "\ncontrol_socket = \"\"\n" OK_SERVER, 2,
	  "control_socket must not be empty" },
	{ "\ncontrol_socket = \"/run/" LONG_NAME LONG_NAME "\"\n" OK_SERVER, 2,
	  "longer than a unix socket path may be (107 bytes)" },
	/* protocol = exec (conf_exec.c). */
	{ EXEC("") , 4, "protocol = exec needs a command" },
	{ EXEC(" command = {}\n"), 5, "protocol = exec needs a command" },
	{ EXEC(" command = {\"/nonexistent/drover-app\"}\n"), 3,
	  "command \"/nonexistent/drover-app\": No such file or directory" },
	{ EXEC(" command = {\"drover-no-such-app\"}\n"), 3,
	  "(looked in PATH)" },
	{ EXEC(" command = {\"/etc/passwd\"}\n"), 3, "Permission denied" },
	{ EXEC(" command = {\"/bin\"}\n"), 3, "Is a directory" },
	{ EXEC(" command = {\"/bin/sh\"}\n directory = \"/nonexistent\"\n"),
	  4, "directory \"/nonexistent\": No such file" },
	{ EXEC(" command = {\"/bin/sh\"}\n directory = \"/etc/passwd\"\n"),
	  4, "not a directory" },
	{ EXEC(" command = {\"/bin/sh\"}\n stop_signal = STOP\n"), 4,
	  "stop_signal = \"STOP\"" },
	{ EXEC(" command = {\"/bin/sh\"}\n ready = \"http:healthz\"\n"), 4,
	  "expected notify, started or \"http:/PATH\"" },
	{ EXEC(" command = {\"/bin/sh\"}\n ready = sometimes\n"), 4,
	  "ready = \"sometimes\"" },
	{ EXEC(" command = {\"/bin/sh\"}\n processes = 0\n"), 4,
	  "processes = 0 is out of range" },
	{ EXEC(" command = {\"/bin/sh\"}\n environment = {\"A\"}\n"), 4,
	  "environment \"A\": expected NAME=VALUE" },
	{ EXEC(" command = {\"/bin/sh\"}\n environment = {\"LISTEN_FDS=3\"}\n"),
	  4, "drover sets LISTEN_FDS itself" },
	{ EXEC(" command = {\"/bin/sh\"}\n output_log = \"\"\n"), 4,
	  "output_log is empty" },
	{ EXEC(" command = {\"/bin/sh\"}\n location \"/\" { return = 200 }\n"),
	  6, "location applies to protocol = http only" },
	{ EXEC(" command = {\"/bin/sh\"}\n max_connections = 5\n"), 6,
	  "max_connections does not apply to protocol = exec" },
	{ EXEC(" command = {\"/bin/sh\"}\n defer_accept = true\n"), 6,
	  "defer_accept does not apply to protocol = exec" },
	{ EXEC(" command = {\"/bin/sh\"}\n environment = {\"WATCHDOG_PID=1\"}\n"),
	  4, "drover sets WATCHDOG_PID itself" },
	{ EXEC(" command = {\"/bin/sh\"}\n ready = \"http://x/\"\n"), 4,
	  "expected notify, started" },
	{ OK_SERVER "server h {\n listen = {\"127.0.0.1:1\"}\n protocol = http\n"
	  " command = {\"/bin/sh\"}\n}\n", 9,
	  "command applies to protocol = exec only" },
	/* Upstreams: each value checked with its section's line. */
	{ UP("") OK_SERVER, 2, "upstream app: servers lists 1 to 64" },
	{ UP(" servers = {\"127.0.0.1\"}\n") OK_SERVER, 3,
	  "expected HOST:PORT" },
	{ UP(" servers = {\"127.0.0.1:0\"}\n") OK_SERVER, 3,
	  "an upstream server needs a port" },
	{ UP(" servers = {\"unix:\"}\n") OK_SERVER, 3,
	  "a unix socket path is 1 to" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n balance = random\n")
	  OK_SERVER, 4, "balance = \"random\": expected round_robin" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n proxy_protocol = v3\n")
	  OK_SERVER, 4, "proxy_protocol = \"v3\": expected off, v1 or v2" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n source = \"here\"\n")
	  OK_SERVER, 4, "source = \"here\": expected" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n source = \"::1\"\n")
	  OK_SERVER, 4, "is not of the family of server \"127.0.0.1:1\"" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n health_check = \"x\"\n")
	  OK_SERVER, 4, "a path starts with '/'" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n keepalive = -1\n") OK_SERVER, 3,
	  "keepalive = -1 is out of range" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n connect_timeout = 0\n")
	  OK_SERVER, 3, "connect_timeout = 0 is out of range" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n retry_wait = 3601\n") OK_SERVER,
	  3, "retry_wait = 3601 is out of range" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n servers = {\"127.0.0.1:2\"}\n")
	  OK_SERVER, 3, "servers is set twice" },
	{ "server p {\n listen = {\"127.0.0.1:0\"}\n protocol = tcp_proxy\n}\n",
	  4, "protocol = tcp_proxy needs upstream = NAME" },
	{ "server p {\n listen = {\"127.0.0.1:0\"}\n protocol = tcp_proxy\n"
	  " upstream = none\n}\n", 5,
	  "server p: upstream = \"none\": no upstream of that name" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n") "server e {\n listen = "
	  "{\"127.0.0.1:0\"}\n protocol = echo\n upstream = app\n}\n", 8,
	  "upstream applies to protocol = tcp_proxy and udp_proxy only" },
	{ HTTP_LOC("  proxy = none\n"), 6,
	  "location /: proxy = \"none\": no upstream of that name" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n") HTTP_LOC("  proxy = app\n"
	  "  return = 200\n"), 10, "needs exactly one of" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n") "server u {\n listen = "
	  "{\"127.0.0.1:0\"}\n protocol = udp_echo\n proxy_protocol = on\n"
	  "}\n", 8, "proxy_protocol applies to servers drover accepts TCP" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n") "server e {\n listen = "
	  "{\"127.0.0.1:0\"}\n protocol = echo\n udp_responses = 1\n}\n", 8,
	  "udp_responses applies to protocol = udp_proxy only" },
	{ UP(" servers = {\"unix:/x\"}\n") "server u {\n listen = "
	  "{\"127.0.0.1:0\"}\n protocol = udp_proxy\n upstream = app\n}\n",
	  8, "udp_proxy relays to UDP addresses only" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n source = \"listen\"\n")
	  "server u {\n listen = {\"127.0.0.1:0\"}\n protocol = udp_proxy\n"
	  " upstream = app\n}\n", 9, "udp_proxy needs a port per session" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n proxy_protocol = v2\n")
	  "server u {\n listen = {\"127.0.0.1:0\"}\n protocol = udp_proxy\n"
	  " upstream = app\n}\n", 9, "udp_proxy does not" },
	{ UP(" servers = {\"*:9000\"}\n") OK_SERVER, 3, "not a wildcard" },
	{ UP(" servers = {\"[::]:9000\"}\n") OK_SERVER, 3, "not a wildcard" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n health_check = \"/a b\"\n")
	  OK_SERVER, 4, "no spaces or control characters" },
	{ UP(" servers = {\"127.0.0.1:1\"}\n health_check = \"/h\"\n")
	  "server u {\n listen = {\"127.0.0.1:0\"}\n protocol = udp_proxy\n"
	  " upstream = app\n}\n", 9, "a UDP server does not answer" },
	{ "upstream \"a b\" {\n servers = {\"127.0.0.1:1\"}\n}\n" OK_SERVER,
	  3, "upstream \"a b\": a name is" },
};

START_TEST(test_bad_files)
{
	const struct bad_case	*b = &bad[_i];
	struct config		*c;
	char			 err[1024], prefix[4200];

	c = load(b->text, err, sizeof(err));
	ck_assert_msg(c == NULL, "case %d was accepted", _i);
	if (b->line > 0) {
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, b->line);
		ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		    "case %d: \"%s\" does not start with \"%s\"", _i, err,
		    prefix);
	} else
		ck_assert_msg(strstr(err, path) != NULL,
		    "case %d: \"%s\" does not name the file", _i, err);
	ck_assert_msg(strstr(err, b->error) != NULL,
	    "case %d: \"%s\" lacks \"%s\"", _i, err, b->error);
}
END_TEST

/* The example, as it is kept; an upstream may come after its
 * users. */
START_TEST(test_upstream_values)
{
	struct config		*c;
	const struct upstream_conf *u;
	char			 err[1024];

	c = load("server web {\n listen = {\"127.0.0.1:0\"}\n"
	    " protocol = http\n proxy_protocol = on\n"
	    " location \"/api\" { proxy = app }\n}\n"
	    "server db {\n listen = {\"127.0.0.2:0\"}\n protocol = tcp_proxy\n"
	    " upstream = app\n idle_timeout = 3600\n}\n"
	    "upstream app {\n servers = {\"127.0.0.1:9000\", \"[::1]:9001\","
	    " \"unix:/run/app.sock\"}\n balance = least_conn\n keepalive = 7\n"
	    " connect_timeout = 2\n read_timeout = 3\n send_timeout = 4\n"
	    " max_fails = 5\n fail_timeout = 6\n health_check = \"/healthz\"\n"
	    " health_interval = 8\n retry_wait = 0\n source = \"listen\"\n"
	    " proxy_protocol = v2\n}\n"
	    "upstream b {\n servers = {\"127.0.0.1:1\", \"unix:/x\"}\n"
	    " source = \"127.0.0.1:5000\"\n}\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nupstreams, 2);
	u = &c->upstreams[0];
	ck_assert_str_eq(u->name, "app");
	ck_assert_uint_eq(u->nservers, 3);
	ck_assert_str_eq(u->servers[1].text, "[::1]:9001");
	ck_assert_int_eq(addr_family(&u->servers[2].addr), AF_UNIX);
	ck_assert_int_eq(u->balance, BALANCE_LEAST_CONN);
	ck_assert_int_eq(u->keepalive, 7);
	ck_assert_int_eq(u->connect_timeout, 2);
	ck_assert_int_eq(u->read_timeout, 3);
	ck_assert_int_eq(u->send_timeout, 4);
	ck_assert_int_eq(u->max_fails, 5);
	ck_assert_int_eq(u->fail_timeout, 6);
	ck_assert_str_eq(u->health_check, "/healthz");
	ck_assert_int_eq(u->health_interval, 8);
	ck_assert_int_eq(u->retry_wait, 0);
	ck_assert_int_eq(u->source, SOURCE_LISTEN);
	ck_assert_int_eq(u->proxy_protocol, 2);
	ck_assert_int_eq(c->upstreams[1].source, SOURCE_IP_PORT);
	ck_assert_int_eq(addr_port(&c->upstreams[1].source_addr), 5000);
	/* Defaults. */
	ck_assert_int_eq(c->upstreams[1].balance, BALANCE_ROUND_ROBIN);
	ck_assert_int_eq(c->upstreams[1].keepalive, 32);
	ck_assert_int_eq(c->upstreams[1].retry_wait, 10);
	ck_assert_ptr_null(c->upstreams[1].health_check);
	ck_assert_int_eq(c->upstreams[1].proxy_protocol, 0);
	ck_assert_int_eq(c->servers[0].proxy_protocol, 1);
	ck_assert_ptr_eq(c->servers[0].locations[0].proxy, u);
	ck_assert_int_eq(c->servers[0].locations[0].handler, LOC_PROXY);
	ck_assert_ptr_eq(c->servers[1].upstream, u);
	ck_assert_int_eq(c->servers[1].protocol, PROTO_TCP_PROXY);
	ck_assert_int_eq(c->servers[1].idle_timeout, 3600);
	ck_assert_int_eq(c->servers[1].proxy_protocol, 0);
	conf_free(c);
}
END_TEST

/* An exec server as it is kept; and drover's workers serve only others. */
START_TEST(test_exec_server)
{
	struct config		*c;
	struct exec_conf	*ec;
	char			 err[1024];

	c = load("workers = 3\n"
	    "server app {\n listen = {\"127.0.0.1:0\"}\n protocol = exec\n"
	    " command = {\"sh\", \"-c\", \"exit 0\"}\n directory = \".\"\n"
	    " ready = \"http:/healthz?x=1\"\n stop_signal = SIGQUIT\n"
	    " environment = {\"A=1\", \"B=x=y\"}\n output_log = \"app.log\"\n}\n"
	    "server plain {\n listen = {\"127.0.0.2:0\"}\n protocol = exec\n"
	    " command = {\"/bin/sh\"}\n processes = 5\n}\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->nworker_servers, 0);
	ec = c->servers[0].exec;
	ck_assert_ptr_nonnull(ec);
	ck_assert_str_eq(ec->argv[0], "sh");
	ck_assert_str_eq(ec->argv[2], "exit 0");
	ck_assert_ptr_null(ec->argv[3]);
	ck_assert_msg(ec->path[0] == '/' && strstr(ec->path, "/sh") != NULL,
	    "sh resolved to %s", ec->path);
	ck_assert_str_eq(ec->directory, dir);
	ck_assert_int_eq(ec->processes, 3);	/* the global workers */
	ck_assert_int_eq(ec->ready, EXEC_READY_HTTP);
	ck_assert_str_eq(ec->ready_path, "/healthz?x=1");
	ck_assert_int_eq(ec->stop_signal, SIGQUIT);
	ck_assert_str_eq(ec->env[1], "B=x=y");
	ck_assert_ptr_null(ec->env[2]);
	ck_assert_msg(strncmp(ec->output_log, dir, strlen(dir)) == 0,
	    "output_log %s is not in %s", ec->output_log, dir);
	ec = c->servers[1].exec;
	ck_assert_int_eq(ec->processes, 5);
	ck_assert_int_eq(ec->ready, EXEC_READY_STARTED);
	ck_assert_int_eq(ec->stop_signal, SIGTERM);
	ck_assert_str_eq(ec->directory, "/");
	ck_assert_ptr_null(ec->output_log);
	ck_assert_ptr_null(ec->env[0]);
	conf_free(c);

	c = load(OK_SERVER "server app {\n listen = {\"127.0.0.2:0\"}\n"
	    " protocol = exec\n command = {\"/bin/sh\"}\n}\n", err,
	    sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->nworker_servers, 1);
	ck_assert_ptr_null(c->servers[0].exec);
	conf_free(c);
}
END_TEST

/* Statuses and texts that return accepts, as they are kept. */
static const char *const good_returns[] = {
	"200", "200 Hello, World!", "204", "205", "304", "301 /new",
	"302 http://example.invalid/a?b=c", "303 /x", "307 /y", "308 /z",
	"404 not here", "410 gone", "421", "451 legal", "511 login",
	"226", "208", "507",
};

START_TEST(test_good_returns)
{
	struct config		*c;
	struct location_conf	*lc;
	char			 err[1024], text[512];
	const char		*sp;

	snprintf(text, sizeof(text), HTTP_LOC("  return = \"%s\"\n"),
	    good_returns[_i]);
	c = load(text, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s: %s", good_returns[_i], err);
	lc = &c->servers[0].locations[0];
	ck_assert_int_eq(lc->status, atoi(good_returns[_i]));
	sp = strchr(good_returns[_i], ' ');
	ck_assert_str_eq(lc->text, sp != NULL ? sp + 1 : "");
	conf_free(c);
}
END_TEST

/* Every status that return accepts has its own reason phrase. */
START_TEST(test_return_statuses_have_reasons)
{
	const char	*text, *reason;
	char		 s[16];
	int		 i, status, n = 0;

	for (i = 100; i <= 599; i++) {
		snprintf(s, sizeof(s), "%d", i);
		if (conf_parse_return(s, &status, &text) == -1)
			continue;
		n++;
		reason = http_response_status_text(status);
		ck_assert_msg(strcmp(reason, "Unknown") != 0 &&
		    (status == 200 || strcmp(reason, "OK") != 0),
		    "%d is accepted but has no reason phrase", status);
	}
	ck_assert_int_ge(n, 50);
}
END_TEST

START_TEST(test_comments_keep_strings)
{
	struct config	*c;
	char		 err[1024];

	c = load("# a comment\npid_file = \"/a#b//c/*d*/\" # trailing\n"
	    "/* block\n comment */ ports_file = '/x#y'\n" OK_SERVER, err,
	    sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->pid_file, "/a#b//c/*d*/");
	ck_assert_str_eq(c->ports_file, "/x#y");
	conf_free(c);
}
END_TEST

/* A NUL byte used to end the file silently: refused, naming its line. */
START_TEST(test_nul_byte)
{
	static const char	 text[] = "workers = 2\n\nlog_level = info"
	    "\0 debug\n" OK_SERVER;
	struct config		*c;
	char			 err[1024], prefix[4200];
	FILE			*f;

	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, sizeof(text) - 1, f),
	    sizeof(text) - 1);
	ck_assert_int_eq(fclose(f), 0);
	c = conf_load(path, err, sizeof(err));
	ck_assert_ptr_null(c);
	snprintf(prefix, sizeof(prefix), "%s:3: ", path);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "NUL byte"));
}
END_TEST

/* Overlaps need the same port: port 0 picks one for each listener. */
START_TEST(test_port_zero_does_not_overlap)
{
	struct config	*c;
	char		 err[1024];

	c = load(ECHO("\"127.0.0.1:0\"") "server f {\n listen = {\"*:0\"}\n"
	    " protocol = echo\n}\nserver g {\n listen = {\"*:8080\", "
	    "\"[::1]:8080\"}\n protocol = echo\n}\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	conf_free(c);
}
END_TEST

/* Sections repeat, and "+=" adds to a list: neither is a repeated key. */
START_TEST(test_repeats_that_are_fine)
{
	struct config	*c;
	char		 err[1024];

	c = load("server e {\n listen = {\"127.0.0.1:0\"}\n"
	    " listen += {\"127.0.0.1:1\"}\n protocol = echo\n}\n"
	    "server f {\n listen = {\"127.0.0.1:2\"}\n protocol = echo\n}\n"
	    "server w {\n listen = {\"127.0.0.1:3\"}\n protocol = http\n"
	    " location /a { return = \"200 a\" }\n"
	    " location /b { return = \"200 b = c\" index = \"i\" }\n}\n",
	    err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->servers[0].nlistens, 2);
	ck_assert_uint_eq(c->servers[2].nlocations, 2);
	conf_free(c);
}
END_TEST

START_TEST(test_missing_file)
{
	struct config	*c;
	char		 err[1024];

	c = conf_load("/nonexistent/drover.conf", err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/drover.conf"));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

START_TEST(test_unreadable_file)
{
	struct config	*c;
	char		 err[1024];

	if (geteuid() == 0)
		return;		/* root reads anything: nothing to check */
	write_file(OK_SERVER);
	chmod(path, 0);
	c = conf_load(path, err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err, "Permission denied"));
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_example_means_what_it_says);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_values_and_relative_paths);
	tcase_add_test(tc, test_control_socket);
	tcase_add_loop_test(tc, test_bad_files, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_location_echo_body);
	tcase_add_loop_test(tc, test_location_delay, 0,
	    sizeof(delays) / sizeof(delays[0]));
	tcase_add_test(tc, test_upstream_values);
	tcase_add_loop_test(tc, test_good_returns, 0,
	    sizeof(good_returns) / sizeof(good_returns[0]));
	tcase_add_test(tc, test_return_statuses_have_reasons);
	tcase_add_test(tc, test_comments_keep_strings);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_port_zero_does_not_overlap);
	tcase_add_test(tc, test_repeats_that_are_fine);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_exec_server);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run_suite(config_suite()));
}
