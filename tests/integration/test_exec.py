"""protocol = exec: drover runs the user's program (exec_app.py) as the
workers of a server and hands it listeners the systemd way (LISTEN_FDS).
What the program sees at exec time (descriptors, environment, directory,
signals), each ready mode, reloads that change the command or the number of
processes, programs that never get ready, ignore the stop signal or exit at
once, and the program's output in output_log."""

import datetime
import json
import os
import pwd
import re
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, echo_roundtrip,  # noqa
                       ipv6_loopback_available, main, pid_alive, run,
                       wait_for)
from httplib_raw import get, request  # noqa: E402

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exec_app.py")
PYTHON = sys.executable

# Only a hang guard for a drover -s that waits for a verdict.
CLIENT_TIMEOUT = 60

# Python ignores SIGPIPE and SIGXFSZ itself before the program runs.
PYTHON_IGNORES = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))

# How drover says a process ended with a status (the contract's words).
EXITED = "exit status"   # master_describe_status(), as for workers

# A line of the program's output as drover writes it.
OUTPUT_LINE = (r"(?m)^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \[output\] "
               r"%s\[%s\]: %s$")


def exec_server(args=(), name="app", listen=("127.0.0.1:0",),
                command=None, **keys):
    """The text of an exec server running exec_app.py with args; keys are
    more settings, their values as the config file has them."""
    argv = command or [PYTHON, APP] + list(args)
    lines = ["server %s {" % name,
             "    listen = {%s}" % ", ".join('"%s"' % a for a in listen),
             "    protocol = exec",
             "    command = {%s}" % ", ".join('"%s"' % a for a in argv)]
    lines += ["    %s = %s" % kv for kv in keys.items()]
    return "\n".join(lines) + "\n}\n"


def has_output(d, pid, text, name="app"):
    return re.search(OUTPUT_LINE % (name, pid, re.escape(text)), d.log())


class ExecTest(DroverTest):

    def start(self, servers, workers=1, extra="", wait=True, argv_prefix=(),
              **kw):
        d = self.drover(workers=workers, servers=servers, extra=extra, **kw)
        d.sock = os.path.join(d.dir, "drover.sock")
        d.start(wait=wait, argv_prefix=argv_prefix)
        if d.master is None:        # argv_prefix execs drover: same pid
            d.master = d.proc.pid
        return d

    def ctl(self, d, *args):
        return run([DROVER, "-c", d.conf] + list(args),
                   timeout=CLIENT_TIMEOUT)

    def reload(self, d, servers, extra=None):
        d.write_conf(servers=servers, extra=extra)
        return self.ctl(d, "-s", "reload")

    def status(self, d):
        wait_for(lambda: os.path.exists(d.sock), what="the control socket")
        r = self.ctl(d, "-s", "status", "-j")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def serving(self, st):
        gens = [g["id"] for g in st["generations"] if g["state"] == "serving"]
        self.assertEqual(len(gens), 1, st["generations"])
        return gens[0]

    def app_pids(self, d, gen=None, server="app"):
        """Pids of the server's processes in generation gen (default: the
        serving one), from drover -s status -j."""
        st = self.status(d)
        if gen is None:
            gen = self.serving(st)
        return sorted(w["pid"] for w in st["workers"]
                      if w.get("server") == server and w["generation"] == gen)

    def wait_app_pids(self, d, n, exclude=(), server="app"):
        """Wait until the serving generation has n processes of server and
        no process of an older generation (nor in exclude) is left."""
        def ok():
            st = self.status(d)
            gen = [g["id"] for g in st["generations"]
                   if g["state"] == "serving"]
            if len(gen) != 1:
                return False
            mine = [w["pid"] for w in st["workers"]
                    if w.get("server") == server]
            cur = sorted(w["pid"] for w in st["workers"]
                         if w.get("server") == server
                         and w["generation"] == gen[0])
            return (len(cur) == n and sorted(mine) == cur
                    and not set(cur) & set(exclude)
                    and all(pid_alive(p) for p in cur)) and cur
        return wait_for(ok, what="%d processes of %s" % (n, server))

    def http(self, d, path="/", server="app", index=0):
        return request(*d.port(server, index), get(path))

    def info(self, d, server="app", index=0):
        r = self.http(d, "/info", server, index)
        self.assertEqual(r.status, 200)
        return json.loads(r.body)

    def infos(self, d, pids, server="app", index=0, tries=400):
        """/info from each of pids, asking until every one has answered
        (a new connection each time: the kernel spreads them). Nobody else
        may answer."""
        seen = {}
        for _ in range(tries):
            i = self.info(d, server, index)
            self.assertIn(i["pid"], pids, "an unexpected process answered")
            seen[i["pid"]] = i
            if len(seen) == len(pids):
                return seen
        self.fail("only %s of %s answered in %d requests"
                  % (sorted(seen), sorted(pids), tries))

    # -- what the program gets ----------------------------------------------

    def test_descriptors_environment_directory_and_signals(self):
        listen = ["127.0.0.1:0", "127.0.0.2:0"]
        if ipv6_loopback_available():
            listen.append("[::1]:0")
        srv = exec_server(listen=listen, processes=2,
                          environment='{"APP_ENV=production", "X=1=2"}',
                          directory='"appdir"')
        # Descriptors 7 and 9 open in drover must not reach the program;
        # nor may drover's workers = 3: every server is exec.
        d = self.drover(workers=3, servers=srv,
                        extra="worker_hang_timeout = 0")
        d.sock = os.path.join(d.dir, "drover.sock")
        os.mkdir(os.path.join(d.dir, "appdir"))
        d.start(argv_prefix=("/bin/sh", "-c", 'exec 7</dev/null 9>&2; '
                             'exec env MARKER=kept "$@"', "sh"))
        pids = self.app_pids(d)
        self.assertEqual(len(pids), 2)
        self.assertEqual(sorted(d.workers()), pids,
                         "only the program's processes are the master's "
                         "children")
        ports = d.ports()["app"]
        self.assertEqual(len(ports), len(listen))
        n = len(listen)
        seen = self.infos(d, pids)
        slots = set()
        for pid, i in seen.items():
            env = i["env"]
            fds = {int(k): v for k, v in i["fds_at_start"].items()}
            self.assertEqual(sorted(fds), list(range(3 + n)),
                             "pid %d: fds at exec %s" % (pid, fds))
            self.assertEqual(fds[0], "/dev/null")
            self.assertTrue(fds[1].startswith("pipe:"), fds)
            self.assertTrue(fds[2].startswith("pipe:"), fds)
            for k in range(n):
                sock = i["listeners"][str(3 + k)]
                want = ports[k]
                self.assertEqual(sock["family"], "AF_INET6" if ":" in
                                 want[0] else "AF_INET", sock)
                self.assertEqual(sock["type"], "SOCK_STREAM")
                self.assertEqual(tuple(sock["sockname"][:2]), want)
                self.assertEqual(sock["acceptconn"], 1)
                self.assertEqual(sock["reuseport"], 1)
                self.assertTrue(fds[3 + k].startswith("socket:"))
            self.assertEqual(i["ppid"], d.master)
            self.assertEqual(i["pgid"], pid, "leads its process group")
            self.assertEqual(i["blocking_at_start"],
                             {str(fd): True for fd in range(3, 3 + n)})
            self.assertEqual(i["argv"], [APP])
            self.assertEqual(i["cwd"], os.path.realpath(
                os.path.join(d.dir, "appdir")))
            self.assertEqual(env["LISTEN_FDS"], str(n))
            self.assertEqual(env["LISTEN_PID"], str(pid))
            self.assertEqual(env["LISTEN_FDNAMES"], ":".join(["app"] * n))
            self.assertTrue(env["NOTIFY_SOCKET"].startswith("@"), env)
            self.assertEqual(env["DROVER_SERVER"], "app")
            self.assertEqual(env["DROVER_GENERATION"], "1")
            slots.add(env["DROVER_SLOT"])
            self.assertEqual(env["APP_ENV"], "production")
            self.assertEqual(env["X"], "1=2")
            self.assertEqual(env["MARKER"], "kept")
            self.assertNotIn("WATCHDOG_USEC", env)
            self.assertNotIn("WATCHDOG_PID", env)
            sigs = i["sigs_at_start"]
            self.assertEqual(sigs["SigBlk"], 0, "signals blocked at exec")
            self.assertEqual(sigs["SigIgn"] & ~PYTHON_IGNORES, 0,
                             "signals ignored at exec: %#x" % sigs["SigIgn"])
        self.assertEqual(slots, {"0", "1"})
        # Each listener serves.
        for k in range(n):
            self.assertEqual(self.http(d, "/", index=k).status, 200)

    def test_drovers_environment_is_cleaned_up(self):
        """What drover itself got from its parent about listeners,
        notification, watchdog or drover does not reach the program; what
        else it got does. With worker_hang_timeout the watchdog is set."""
        prefix = ("env", "LISTEN_FDS=9", "LISTEN_PID=1",
                  "LISTEN_FDNAMES=outer", "DROVER_SERVER=outer",
                  "DROVER_GENERATION=99", "DROVER_SLOT=7",
                  "WATCHDOG_USEC=1000000", "OTHER=kept")
        d = self.start(exec_server(processes=1),
                       extra="worker_hang_timeout = 5", argv_prefix=prefix)
        pid, = self.app_pids(d)
        env = self.info(d)["env"]
        self.assertEqual(env["LISTEN_FDS"], "1")
        self.assertEqual(env["LISTEN_PID"], str(pid))
        self.assertEqual(env["LISTEN_FDNAMES"], "app")
        self.assertEqual(env["DROVER_SERVER"], "app")
        self.assertEqual(env["DROVER_GENERATION"], "1")
        self.assertEqual(env["DROVER_SLOT"], "0")
        self.assertEqual(env["OTHER"], "kept")
        self.assertEqual(env["WATCHDOG_PID"], str(pid))
        usec = int(env["WATCHDOG_USEC"])
        self.assertTrue(0 < usec <= 5000000, usec)
        for k in env:
            self.assertFalse(k.startswith("DROVER_") and k not in (
                "DROVER_SERVER", "DROVER_GENERATION", "DROVER_SLOT"), k)

    def test_runs_as_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        # sleep: readable and executable by nobody, unlike this Python.
        srv = exec_server(command=["/bin/sleep", "3600"], processes=1)
        d = self.start(srv, extra='user = "nobody"')
        pid, = self.app_pids(d)
        with open("/proc/%d/status" % pid) as f:
            uids = [line.split()[1:] for line in f
                    if line.startswith("Uid:")][0]
        self.assertEqual({int(u) for u in uids}, {nobody.pw_uid})

    # -- ready modes -----------------------------------------------------------

    def test_ready_notify_waits_for_ready_from_the_process_itself(self):
        d = self.drover(workers=1, servers="")
        ready = os.path.join(d.dir, "ready")
        d.write_conf(servers=exec_server(
            ["--ready", "notify", "--ready-file", ready], processes=2,
            ready="notify"))
        d.sock = os.path.join(d.dir, "drover.sock")
        d.start(wait=False)
        d.master = d.proc.pid
        wait_for(lambda: len(re.findall(
            r"\[output\] app\[\d+\]: exec_app: waiting for", d.log())) == 2,
            what="both processes to wait for the ready file")
        pids = self.app_pids(d, gen=1)
        self.assertEqual(len(pids), 2)
        # READY=1 from someone else on their socket is not theirs.
        for pid in pids:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0")
                           if b"=" in v)
            addr = env[b"NOTIFY_SOCKET"]
            self.assertTrue(addr.startswith(b"@"), addr)
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(b"READY=1", b"\0" + addr[1:])
        # Two round trips on the control socket: the datagrams, queued
        # before, have been read by then.
        self.status(d)
        st = self.status(d)
        self.assertEqual([(g["id"], g["state"]) for g in st["generations"]
                          if g["state"] == "serving"], [])
        self.assertFalse(os.path.exists(d.ports_file))
        with open(ready, "w"):
            pass
        wait_for(lambda: os.path.exists(d.ports_file), what="serving")
        self.assertEqual(self.app_pids(d), pids)
        self.infos(d, pids)

    def test_ready_started(self):
        d = self.start(exec_server(["--tag", "s"], processes=2,
                                   ready="started"))
        pids = self.app_pids(d)
        self.assertEqual(len(pids), 2)
        self.assertEqual(self.http(d).body.split()[0], b"s")

    def test_status_and_watchdog_from_the_program(self):
        """STATUS= is shown by drover -s status; a process that has sent
        WATCHDOG=1 once and is silent after is killed (worker_hang_timeout)
        and started again in its slot."""
        d = self.start(exec_server(["--status", "warming up", "--watchdog",
                                    "once"], processes=1),
                       extra="worker_hang_timeout = 2")
        pid, = self.app_pids(d)

        def shown():
            st = self.status(d)
            return [w for w in st["workers"]
                    if w["pid"] == pid and w.get("status") == "warming up"]
        wait_for(shown, what="STATUS= in drover -s status -j")
        r = self.ctl(d, "-s", "status")
        self.assertIn("warming up", r.stdout)
        d.wait_log(r"process %d of server app .*WATCHDOG=1.*SIGABRT" % pid)
        new = self.wait_app_pids(d, 1, exclude=[pid])
        self.assertEqual(self.info(d)["env"]["DROVER_SLOT"], "0")
        self.assertEqual(self.info(d)["pid"], new[0])

    def test_ready_http_waits_for_a_2xx_on_the_first_address(self):
        d = self.drover(workers=1, servers="")
        health = os.path.join(d.dir, "healthy")
        d.write_conf(servers=exec_server(
            ["--health-file", health], processes=2,
            listen=("127.0.0.1:0", "127.0.0.2:0"), ready='"http:/healthz"'))
        d.sock = os.path.join(d.dir, "drover.sock")
        d.start(wait=False)
        d.master = d.proc.pid
        wait_for(lambda: len(re.findall(r"GET /healthz on .*: 503",
                                        d.log())) >= 3,
                 what="drover to ask /healthz a few times")
        st = self.status(d)
        self.assertNotIn("serving", [g["state"] for g in st["generations"]])
        self.assertFalse(os.path.exists(d.ports_file))
        with open(health, "w"):
            pass
        wait_for(lambda: os.path.exists(d.ports_file), what="serving")
        asked = re.findall(r"GET /healthz on \('([\d.]+)', \d+\)", d.log())
        self.assertEqual(set(asked), {"127.0.0.1"})
        self.assertRegex(d.log(), r"GET /healthz on .*: 200")
        self.infos(d, self.app_pids(d))

    def test_ready_http_of_a_reload_is_the_new_processes_answer(self):
        """The old processes answer /healthz with 200, the new ones with
        503: the new generation is not ready, whoever drover's requests
        reach."""
        d = self.drover(workers=1, servers="",
                        extra="ready_timeout = 5")
        old_health = os.path.join(d.dir, "healthy")
        with open(old_health, "w"):
            pass
        conf = dict(processes=2, ready='"http:/healthz"')
        d.write_conf(servers=exec_server(
            ["--health-file", old_health, "--tag", "v1"], **conf))
        d.sock = os.path.join(d.dir, "drover.sock")
        d.start()
        old = self.app_pids(d)
        r = self.reload(d, exec_server(
            ["--health-file", os.path.join(d.dir, "never"), "--tag", "v2"],
            **conf))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("ready_timeout", r.stderr)
        self.assertEqual(self.wait_app_pids(d, 2), old)
        for _ in range(6):
            self.assertEqual(self.http(d).header("x-tag"), "v1")

    # -- reloads -----------------------------------------------------------------

    def test_reload_with_a_changed_command(self):
        d = self.start(exec_server(["--tag", "v1"], processes=2))
        old = self.app_pids(d)
        self.infos(d, old)      # up: it has its SIGTERM handler
        ports = d.ports()
        r = self.reload(d, exec_server(["--tag", "v2"], processes=2))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "generation 2 serves")
        new = self.wait_app_pids(d, 2, exclude=old)
        for p in old:
            wait_for(lambda: not pid_alive(p), what="old process %d" % p)
            # Told with stop_signal, it stopped by itself.
            self.assertTrue(has_output(d, p, "exec_app: got SIGTERM, "
                                       "stopping"), d.log())
            self.assertTrue(has_output(d, p, "exec_app: stopped"))
        self.assertEqual(d.ports(), ports)
        for pid, i in self.infos(d, new).items():
            self.assertEqual(i["tag"], "v2")
            self.assertEqual(i["env"]["DROVER_GENERATION"], "2")
        for _ in range(6):
            self.assertEqual(self.http(d).header("x-tag"), "v2")

    def test_no_request_lost_across_reloads(self):
        """A client asks all along while three reloads replace the
        processes: every request is answered, by the new ones in the end."""
        d = self.start(exec_server(["--tag", "t0"], processes=2))
        self.infos(d, self.app_pids(d))
        host, port = d.port("app")
        stop = threading.Event()
        errors, tags = [], []

        def client():
            for _ in range(50000):
                if stop.is_set():
                    return
                try:
                    r = request(host, port, get("/"), timeout=TIMEOUT)
                    tags.append(r.header("x-tag"))
                    if r.status != 200:
                        errors.append(r.status)
                except (OSError, EOFError) as e:
                    errors.append(repr(e))
        t = threading.Thread(target=client)
        t.start()
        try:
            for k in range(1, 4):
                tag = "t%d" % k
                r = self.reload(d, exec_server(["--tag", tag], processes=2))
                self.assertEqual(r.returncode, 0, r.stderr)
                wait_for(lambda: not t.is_alive() or tags[-1] == tag,
                         what="answers from %s" % tag)
                self.assertTrue(t.is_alive(), "the client ran out")
        finally:
            stop.set()
            t.join(TIMEOUT)
        self.assertEqual(errors, [])
        self.assertEqual(set(tags), {"t0", "t1", "t2", "t3"})

    def test_stop_signal_is_sent(self):
        srv = exec_server(["--stop-on", "USR2", "--tag", "v1"],
                          stop_signal="SIGUSR2")
        d = self.start(srv)
        old, = self.app_pids(d)
        self.infos(d, [old])
        r = self.reload(d, exec_server(["--tag", "v2"],
                                       stop_signal="SIGUSR2"))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: not pid_alive(old), what="the old process")
        self.assertTrue(has_output(d, old, "exec_app: got SIGUSR2, "
                                   "stopping"), d.log())
        self.assertTrue(has_output(d, old, "exec_app: stopped"))

    def test_processes_change_on_reload(self):
        d = self.start(exec_server(processes=2))
        pids = self.app_pids(d)
        self.assertEqual(len(pids), 2)
        for n in (1, 3):
            r = self.reload(d, exec_server(["--tag", "n%d" % n],
                                           processes=n))
            self.assertEqual(r.returncode, 0, r.stderr)
            pids = self.wait_app_pids(d, n, exclude=pids)
            seen = self.infos(d, pids)
            self.assertEqual(sorted(i["env"]["DROVER_SLOT"]
                                    for i in seen.values()),
                             [str(k) for k in range(n)])
            self.assertEqual({i["tag"] for i in seen.values()},
                             {"n%d" % n})

    def test_reload_that_never_gets_ready(self):
        d = self.drover(workers=1, servers="", extra="ready_timeout = 2")
        d.write_conf(servers=exec_server(["--tag", "v1"], processes=2))
        d.sock = os.path.join(d.dir, "drover.sock")
        d.start()
        old = self.app_pids(d)
        never = os.path.join(d.dir, "never")
        r = self.reload(d, exec_server(
            ["--tag", "v2", "--ready", "notify", "--ready-file", never],
            processes=2, ready="notify"))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("ready_timeout", r.stderr)
        # The new processes are gone, the old ones serve.
        d.wait_worker_set(old)
        self.assertEqual(self.app_pids(d), old)
        self.assertEqual(self.status(d)["reloads"], {"ok": 0, "failed": 1})
        for _ in range(6):
            self.assertEqual(self.http(d).header("x-tag"), "v1")

    # -- stopping ----------------------------------------------------------------

    def killed_line(self, d, pid):
        """A line of drover's own (not the program's output) that names
        pid and a kill."""
        return re.search(r"(?im)^(?!.*\[output\]).*\b%d\b.*kill" % pid,
                         d.log())

    def test_process_ignoring_stop_signal_is_killed(self):
        d = self.start(exec_server(["--ignore-term", "--tag", "v1"]),
                       shutdown_timeout=1)
        old, = self.app_pids(d)
        self.infos(d, [old])
        r = self.reload(d, exec_server(["--tag", "v2"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: has_output(d, old, "exec_app: got SIGTERM, "
                                    "ignoring it"),
                 what="the old process to get SIGTERM")
        wait_for(lambda: not pid_alive(old), what="the old process killed")
        wait_for(lambda: self.killed_line(d, old),
                 what="drover to say it killed %d" % old)
        self.assertFalse(has_output(d, old, "exec_app: stopped"))
        self.assertEqual(self.http(d).header("x-tag"), "v2")

    def test_quit_waits_for_a_graceful_stop(self):
        d = self.start(exec_server(processes=2))
        pids = self.app_pids(d)
        self.infos(d, pids)
        d.signal(signal.SIGQUIT)
        self.assertEqual(d.wait_exit(), 0, d.log())
        for p in pids:
            self.assertFalse(pid_alive(p))
            self.assertTrue(has_output(d, p, "exec_app: stopped"), d.log())

    def test_quit_kills_a_process_ignoring_stop_signal(self):
        d = self.start(exec_server(["--ignore-term"]), shutdown_timeout=1)
        pid, = self.app_pids(d)
        self.infos(d, [pid])
        d.signal(signal.SIGQUIT)
        d.wait_exit()
        self.assertFalse(pid_alive(pid))
        self.assertTrue(has_output(d, pid, "exec_app: got SIGTERM, "
                                   "ignoring it"), d.log())
        self.assertTrue(self.killed_line(d, pid), d.log())

    def test_term_kills_a_process_ignoring_it(self):
        d = self.start(exec_server(["--ignore-term"]))
        pid, = self.app_pids(d)
        self.infos(d, [pid])
        d.signal(signal.SIGTERM)
        d.wait_exit()
        self.assertFalse(pid_alive(pid))
        self.assertTrue(has_output(d, pid, "exec_app: got SIGTERM, "
                                   "ignoring it"), d.log())

    # -- programs that exit --------------------------------------------------

    def test_exit_at_start_up_fails_start_up(self):
        d = self.start(exec_server(["--exit-at-once", "3"],
                                   ready="notify"), wait=False)
        self.assertEqual(d.wait_exit(), 1, d.log())
        m = re.search(r"process (\d+) of server app \(generation 1, slot 0\)"
                      r" %s 3; last output: exec_app: exit at once with "
                      r"status 3" % EXITED, d.log())
        self.assertTrue(m, d.log())
        self.assertIn("start-up failed", d.log())
        # Its output went to error_log as well, with its name and pid.
        self.assertTrue(has_output(d, m.group(1), "exec_app: starting"))
        self.assertFalse(os.path.exists(d.ports_file))

    def test_exit_after_a_reload_fails_the_reload(self):
        d = self.start(exec_server(["--tag", "v1"], processes=2))
        old = self.app_pids(d)
        r = self.reload(d, exec_server(["--exit-at-once", "4"], processes=2,
                                       ready="notify"))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stderr, r"process \d+ of server app \(generation "
                         r"2, slot \d\) %s 4; last output: exec_app: exit "
                         r"at once with status 4" % EXITED)
        d.wait_worker_set(old)
        for _ in range(6):
            self.assertEqual(self.http(d).header("x-tag"), "v1")

    def test_exec_failure_fails_start_up(self):
        """The program is there and executable when the file is read, but
        its interpreter is not: exec fails, which is not "started"."""
        d = self.drover(workers=1, servers="")
        prog = os.path.join(d.dir, "app.sh")
        with open(prog, "w") as f:
            f.write("#!/nonexistent/interpreter\n")
        os.chmod(prog, 0o755)
        d.write_conf(servers=exec_server(command=[prog]))
        d.start(wait=False)
        self.assertEqual(d.wait_exit(), 1, d.log())
        self.assertRegex(d.log(), r"start-up failed: process \d+ of server "
                         r"app \(generation 1, slot 0\) %s 127: exec %s: "
                         r"No such file or directory"
                         % (EXITED, re.escape(prog)))
        self.assertFalse(os.path.exists(d.ports_file))

    def test_killed_process_is_respawned_on_the_same_listener(self):
        d = self.start(exec_server(processes=2))
        pids = self.app_pids(d)
        ports = d.ports()
        victim = pids[0]
        slot = self.infos(d, pids)[victim]["env"]["DROVER_SLOT"]
        os.kill(victim, signal.SIGKILL)
        d.wait_log(r"process %d of server app \(generation 1, slot %s\)"
                   % (victim, slot))
        now = self.wait_app_pids(d, 2, exclude=[victim])
        self.assertEqual(len(set(now) & set(pids)), 1)
        new = (set(now) - set(pids)).pop()
        i = self.infos(d, now)[new]
        self.assertEqual(i["env"]["DROVER_SLOT"], slot)
        self.assertEqual(i["env"]["DROVER_GENERATION"], "1")
        self.assertEqual(i["env"]["LISTEN_PID"], str(new))
        self.assertEqual(tuple(i["listeners"]["3"]["sockname"]),
                         ports["app"][0])
        self.assertEqual(d.ports(), ports)

    # -- output --------------------------------------------------------------

    def test_output_log_and_reopen_on_usr1(self):
        """Lines go to output_log with a UTC time stamp (drover runs in a
        zone 5:30 off UTC), not to error_log; USR1 reopens the file."""
        d = self.drover(workers=1, servers="")
        out = os.path.join(d.dir, "app.log")
        d.write_conf(servers=exec_server(["--print", "hello"],
                                         output_log='"%s"' % out))
        d.sock = os.path.join(d.dir, "drover.sock")
        d.start(argv_prefix=("env", "TZ=IST-05:30"))
        pid, = self.app_pids(d)

        def text(path):
            try:
                with open(path) as f:
                    return f.read()
            except FileNotFoundError:
                return ""
        for line in ("hello", "hello (stderr)"):
            pat = OUTPUT_LINE % ("app", pid, re.escape(line))
            m = wait_for(lambda: re.search(pat, text(out)),
                         what="%r in output_log" % line)
            stamp = datetime.datetime.strptime(
                m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc)
            off = abs(datetime.datetime.now(datetime.timezone.utc) - stamp)
            self.assertLess(off, datetime.timedelta(minutes=20),
                            "not UTC: %s" % m.group(0))
        self.assertNotIn("hello", text(d.error_log))
        os.rename(out, out + ".1")
        d.signal(signal.SIGUSR1)
        count = [0]

        def printed_to_new_file():
            count[0] += 1
            self.assertEqual(self.http(d, "/print?after-%d"
                                       % count[0]).status, 200)
            return "after-" in text(out)
        wait_for(printed_to_new_file, what="a line in the reopened file",
                 interval=0.1)
        self.assertNotIn("hello", text(out))
        self.assertIn("hello", text(out + ".1"))
        self.assertRegex(text(out), OUTPUT_LINE % ("app", pid, r"after-\d+"))

    # -- next to drover's own workers -----------------------------------------

    def test_exec_and_echo_servers_together(self):
        srv = exec_server(processes=1) + """
server echo {
    listen = {"127.0.0.2:0"}
    protocol = echo
}
"""
        d = self.start(srv, workers=2)
        st = self.status(d)
        apps = [w for w in st["workers"] if "server" in w]
        own = [w for w in st["workers"] if "server" not in w]
        self.assertEqual([w["server"] for w in apps], ["app"])
        self.assertEqual(len(own), 2)
        self.assertEqual(sorted(d.workers()),
                         sorted(w["pid"] for w in st["workers"]))
        self.assertEqual(echo_roundtrip(*d.port("echo")), b"hello drover\n")
        self.assertEqual(self.info(d)["pid"], apps[0]["pid"])


if __name__ == "__main__":
    main()
