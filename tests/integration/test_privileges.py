"""Privileges: started as root with user/group, workers bind first and
then run as that user; drover also runs whole as an unprivileged user."""

import grp
import os
import pwd
import shutil
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, echo_roundtrip, main, pid_alive,  # noqa
                       proc_uid, run, wait_for, wrk_during)

IS_ROOT = os.geteuid() == 0


def nobody():
    try:
        pw = pwd.getpwnam("nobody")
        gr = grp.getgrnam("nogroup")
    except KeyError:
        return None
    return pw.pw_uid, gr.gr_gid


def proc_groups(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Groups:"):
                return [int(x) for x in line.split()[1:]]
            if line.startswith("Gid:"):
                gids = [int(x) for x in line.split()[1:]]
    return gids


def free_privileged_port():
    for port in range(990, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    return None


def as_nobody():
    return ["setpriv", "--reuid=nobody", "--regid=nogroup",
            "--clear-groups", "--inh-caps=-all"]


@unittest.skipUnless(IS_ROOT and nobody(), "needs root and user nobody")
class PrivilegesTest(DroverTest):

    def test_workers_drop_to_user_and_group(self):
        uid, gid = nobody()
        port = free_privileged_port()
        self.assertIsNotNone(port, "no free port below 1024")
        d = self.drover(workers=2, listen='"127.0.0.1:%d"' % port,
                        extra='user = "nobody"\ngroup = "nogroup"')
        d.start()
        self.assertEqual(proc_uid(d.master), [0, 0, 0, 0])
        for w in d.wait_workers(2):
            self.assertEqual(proc_uid(w), [uid] * 4)
            with open("/proc/%d/status" % w) as f:
                gid_line = [x for x in f if x.startswith("Gid:")][0]
            self.assertEqual([int(x) for x in gid_line.split()[1:]],
                             [gid] * 4)
            self.assertEqual(proc_groups(w), [gid])
        # Port 9xx was bound as root before the switch, and serves.
        self.assertEqual(echo_roundtrip("127.0.0.1", port, b"p"), b"p")
        # A reload forks the new generation from the root master.
        old = d.workers()
        d.write_conf(workers=3)
        run([DROVER, "-c", d.conf, "-s", "reload"]).check_returncode()
        for w in d.wait_workers(3, exclude=old):
            self.assertEqual(proc_uid(w), [uid] * 4)
        self.assertEqual(echo_roundtrip("127.0.0.1", port, b"q"), b"q")

    def unprivileged_instance(self, **kw):
        d = self.drover(**kw)
        os.chmod(d.dir, 0o777)
        os.chmod(d.conf, 0o644)
        probe = run(as_nobody() + [DROVER, "-V"])
        if probe.returncode != 0:
            self.skipTest("drover binary not reachable by nobody: %s"
                          % probe.stderr.strip())
        return d

    def test_runs_unprivileged(self):
        uid, _ = nobody()
        d = self.unprivileged_instance(workers=2)
        d.start(argv_prefix=as_nobody())
        d.master = d.read_pid()
        self.assertEqual(proc_uid(d.master)[0], uid)
        for w in d.wait_workers(2):
            self.assertEqual(proc_uid(w)[0], uid)
        self.assertEqual(echo_roundtrip(*d.port(), b"u"), b"u")
        r = run(as_nobody() + [DROVER, "-c", d.conf, "-s", "quit"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(d.proc.wait(timeout=TIMEOUT), 0)

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_unprivileged_reloads_and_upgrades_under_load(self):
        """As nobody (no capability, default sysctls): reloads that change
        the worker count and binary upgrades under churn load lose
        nothing."""
        d = self.unprivileged_instance(workers=2, servers="""
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/hello" { return = "200 Hello, World!" }
}
""")
        d.start(argv_prefix=as_nobody())
        host, port = d.port("web")
        counts = [3, 1, 2]
        events = []
        done = d.log().count("reload done")

        def event():
            pid = d.read_pid()
            if len(events) % 3 == 2:
                os.kill(pid, signal.SIGUSR2)
            else:
                n = counts.pop(0)
                counts.append(n)
                d.write_conf(workers=n)
                os.chmod(d.conf, 0o644)
                os.kill(pid, signal.SIGHUP)
            events.append(1)

        def settled(n):     # events 3, 6, ... upgrade, the others reload
            return (d.log().count("reload done") >= done + n - n // 3 and
                    d.upgraded(n // 3))
        r, fired = wrk_during("http://%s:%d/hello" % (host, port), event,
                              ["-H", "Connection: close"], times=6,
                              interval=0.3, settled=settled)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Socket errors", r.stdout, r.stdout)
        self.assertNotIn("Non-2xx", r.stdout, r.stdout)
        self.assertGreaterEqual(fired, 6)
        self.assertNotIn("failed", d.log())
        wait_for(lambda: pid_alive(d.read_pid()), what="a master")
        d.master = d.read_pid()
        d.started_pids.add(d.master)
        self.assertEqual(proc_uid(d.master)[0], nobody()[0])

    def test_unprivileged_cannot_switch_user(self):
        d = self.unprivileged_instance(extra='user = "root"')
        r = run(as_nobody() + [DROVER, "-f", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("not running as root", r.stderr)

    def test_unprivileged_low_port_fails_clearly(self):
        port = free_privileged_port()
        d = self.unprivileged_instance(listen='"127.0.0.1:%d"' % port)
        r = run(as_nobody() + [DROVER, "-f", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.0.1:%d: bind: Permission denied" % port,
                      r.stderr)


if __name__ == "__main__":
    main()
