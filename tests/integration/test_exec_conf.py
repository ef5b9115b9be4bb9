"""protocol = exec in the configuration: drover -t refuses each mistake
with the file and the line, and passes a good exec config."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import DROVER, DroverTest, main, run  # noqa: E402

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exec_app.py")

HTTP = """
server web {
    listen = {"127.0.0.2:0"}
    protocol = http
    %s
    location "/" { return = "200 hi" }
}
"""

ECHO = """
server echo {
    listen = {"127.0.0.3:0"}
    protocol = echo
    %s
}
"""


def exec_server(*settings, command=None):
    """An exec server with settings, one a line; command=False: none."""
    lines = ["server app {",
             '    listen = {"127.0.0.1:0"}',
             "    protocol = exec"]
    if command is not False:
        argv = command or [sys.executable, APP]
        lines.append("    command = {%s}" % ", ".join('"%s"' % a
                                                       for a in argv))
    lines += ["    " + s for s in settings]
    return "\n".join(lines) + "\n}\n"


def line_of(text, token):
    """1-based number of the first line of text that contains token."""
    for n, line in enumerate(text.split("\n"), 1):
        if token in line:
            return n
    raise AssertionError("%r not in the config" % token)


def end_of_server(text, token):
    """1-based number of the line that closes the server holding token."""
    lines = text.split("\n")
    n = line_of(text, token)
    return n + lines[n - 1:].index("}")


def conf_of(d):
    with open(d.conf) as f:
        return f.read()


class ExecConfTest(DroverTest):

    def check(self, servers, env=None):
        d = self.drover(workers=1, servers=servers)
        r = run([DROVER, "-t", "-c", d.conf], env=env)
        return d, r

    def refused(self, servers, token, *words, at_end=False):
        """-t fails naming the line that holds token, and says words. With
        at_end, the line that closes the server will do as well: a key of
        another protocol is known to be one only once the whole server
        (with its `protocol`, wherever it is) has been read."""
        d, r = self.check(servers)
        self.assertEqual(r.returncode, 1, r.stderr)
        text = conf_of(d)
        lines = {line_of(text, token)}
        if at_end:
            lines.add(end_of_server(text, token))
        self.assertTrue(any("%s:%d:" % (d.conf, n) in r.stderr
                            for n in lines),
                        "%s does not name %s:%s" % (r.stderr, d.conf,
                                                    sorted(lines)))
        for w in words:
            self.assertIn(w, r.stderr)
        return d, r

    def test_good_exec_config_passes(self):
        d = self.drover(workers=1, servers="")
        os.mkdir(os.path.join(d.dir, "appdir"))
        srv = exec_server(
            "processes = 2", 'ready = "http:/healthz"',
            "stop_signal = SIGINT",
            'environment = {"APP_ENV=production", "X=1=2", "EMPTY="}',
            'directory = "appdir"',
            'output_log = "%s"' % os.path.join(d.dir, "app.log"))
        srv += exec_server("ready = notify", "stop_signal = WINCH",
                           command=["sh", "-c", "exit 0"]).replace(
            "server app", "server byname").replace("127.0.0.1", "127.0.0.4")
        srv += exec_server("ready = started", "stop_signal = KILL").replace(
            "server app", "server third").replace("127.0.0.1", "127.0.0.5")
        srv += HTTP % "" + ECHO % ""
        d.write_conf(servers=srv)
        r = run([DROVER, "-t", "-c", d.conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stderr)

    def test_every_stop_signal_name(self):
        for sig in ("HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM",
                    "WINCH", "SIGHUP", "SIGTERM"):
            with self.subTest(sig=sig):
                d, r = self.check(exec_server("stop_signal = %s" % sig))
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_command_is_looked_up_in_path_when_read(self):
        d = self.drover(workers=1, servers="")
        bindir = os.path.join(d.dir, "bin")
        os.mkdir(bindir)
        prog = os.path.join(bindir, "my-exec-app")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")   # never run: -t only
        os.chmod(prog, 0o755)
        d.write_conf(servers=exec_server(command=["my-exec-app"]))
        env = dict(os.environ, PATH=bindir + ":/usr/bin:/bin")
        r = run([DROVER, "-t", "-c", d.conf], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run([DROVER, "-t", "-c", d.conf],
                env=dict(os.environ, PATH="/usr/bin:/bin"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:%d:" % (d.conf, line_of(conf_of(d), "command =")),
                      r.stderr)
        self.assertIn("my-exec-app", r.stderr)

    def test_relative_command_is_relative_to_the_config_file(self):
        d = self.drover(workers=1, servers="")
        os.mkdir(os.path.join(d.dir, "bin"))
        prog = os.path.join(d.dir, "bin", "app")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")   # never run: -t only
        os.chmod(prog, 0o755)
        d.write_conf(servers=exec_server(command=["bin/app"]))
        r = run([DROVER, "-t", "-c", d.conf], cwd="/")
        self.assertEqual(r.returncode, 0, r.stderr)
        os.remove(prog)
        r = run([DROVER, "-t", "-c", d.conf], cwd="/")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:%d:" % (d.conf, line_of(conf_of(d), "command =")),
                      r.stderr)

    def test_command_missing(self):
        """The error names a line of the server (which one is the
        implementation's choice: the server's or its closing brace)."""
        d, r = self.check(exec_server("processes = 1", command=False))
        self.assertEqual(r.returncode, 1, r.stderr)
        text = conf_of(d)
        first = line_of(text, "server app {")
        last = end_of_server(text, "server app {")
        m = re.search(re.escape(d.conf) + r":(\d+):", r.stderr)
        self.assertTrue(m, r.stderr)
        self.assertTrue(first <= int(m.group(1)) <= last, r.stderr)
        self.assertIn("command", r.stderr)

    def test_command_not_executable(self):
        d = self.drover(workers=1, servers="")
        prog = os.path.join(d.dir, "app.sh")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")   # never run: -t only
        os.chmod(prog, 0o644)
        self.refused(exec_server(command=[prog]), "command =", prog)

    def test_command_not_found(self):
        for argv0 in ("/nonexistent/bin/app", "no-such-program-drover"):
            with self.subTest(argv0=argv0):
                self.refused(exec_server(command=[argv0, "x"]), "command =",
                             argv0)

    def test_command_empty(self):
        self.refused(exec_server(command=[""]), "command =", "command")

    def test_directory_missing(self):
        for path in ("/nonexistent/dir", "missing-dir"):
            with self.subTest(path=path):
                self.refused(exec_server('directory = "%s"' % path),
                             "directory =", path)

    def test_unknown_stop_signal(self):
        for sig in ("BOGUS", "STOP", "SIGSEGV"):
            with self.subTest(sig=sig):
                self.refused(exec_server("stop_signal = %s" % sig),
                             "stop_signal =", sig)

    def test_bad_ready(self):
        for value, said in (('"http:healthz"', "http:healthz"),
                            ("sometimes", "sometimes")):
            with self.subTest(value=value):
                self.refused(exec_server("ready = %s" % value), "ready =",
                             said)

    def test_environment_entry_without_equals(self):
        self.refused(exec_server('environment = {"A=1", "NOEQUALS"}'),
                     "environment =", "NOEQUALS")

    def test_environment_may_not_set_what_drover_sets(self):
        for entry in ("LISTEN_FDS=3", "LISTEN_PID=1", "LISTEN_FDNAMES=x",
                      "NOTIFY_SOCKET=@x", "WATCHDOG_USEC=1",
                      "DROVER_SLOT=0"):
            with self.subTest(entry=entry):
                self.refused(exec_server('environment = {"A=1", "%s"}'
                                         % entry), "environment =",
                             entry.split("=")[0])

    def test_keys_of_other_protocols_in_an_exec_server(self):
        for setting, key in (('location "/" { return = "200 x" }',
                              "location"),
                             ("access_log = off", "access_log"),
                             ("idle_timeout = 5", "idle_timeout"),
                             ("header_timeout = 5", "header_timeout")):
            with self.subTest(key=key):
                self.refused(exec_server(setting), setting, key,
                             at_end=True)

    def test_exec_keys_in_servers_of_other_protocols(self):
        for setting in ('command = {"/bin/sleep", "1"}', "processes = 2",
                        "ready = notify", "stop_signal = TERM",
                        'environment = {"A=1"}', 'directory = "/"',
                        'output_log = "/tmp/x.log"'):
            key = setting.split()[0]
            for proto, text in (("http", HTTP), ("echo", ECHO)):
                with self.subTest(key=key, protocol=proto):
                    self.refused(text % setting, setting, key,
                                 at_end=True)

    def test_processes_zero(self):
        self.refused(exec_server("processes = 0"), "processes =",
                     "processes")


if __name__ == "__main__":
    main()
