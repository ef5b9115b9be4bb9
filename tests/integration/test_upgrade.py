"""Binary upgrades (SIGUSR2): a new master from the binary's path takes the
listening sockets over, serves, and only then does the old one drain and
exit; chained upgrades and a failing new binary lose nothing."""

import os
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, main, pid_alive, run,  # noqa
                       wait_for, wrk_during)
from httplib_raw import get, request  # noqa: E402

SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/hello" { return = "200 Hello, World!" }
}
"""


class UpgradeTest(DroverTest):

    def launch(self, d):
        """Start the copied binary in the foreground and wait until it
        serves."""
        import subprocess
        d.stderr = open(d.log_file, "ab")
        d.proc = subprocess.Popen([self.exe, "-f", "-c", d.conf],
                                  stdin=subprocess.DEVNULL,
                                  stdout=d.stderr, stderr=d.stderr)
        d.master = d.proc.pid
        wait_for(lambda: os.path.exists(d.ports_file),
                 what="drover to serve")
        return d

    def upgrade(self, d):
        old = d.read_pid()
        old_workers = d.workers()
        os.kill(old, signal.SIGUSR2)
        wait_for(lambda: os.path.exists(d.pid_file) and
                 d.read_pid() != old and not pid_alive(old),
                 what="the new master to take over")
        for w in old_workers:
            wait_for(lambda: not pid_alive(w), what="old worker to exit")
        d.master = d.read_pid()
        d.started_pids.add(d.master)
        self.assertFalse(os.path.exists(d.pid_file + ".oldbin"))
        return d.master

    def test_upgrade_hands_over_and_can_repeat(self):
        d = self.drover(workers=2, servers=SERVER)
        self.exe = os.path.join(d.dir, "drover")
        shutil.copy2(DROVER, self.exe)
        self.launch(d)
        host, port = d.port("web")
        masters = [d.master]
        for _ in range(3):
            masters.append(self.upgrade(d))
            self.assertEqual(d.port("web"), (host, port))
            r = request(host, port, get("/hello"))
            self.assertEqual(r.body, b"Hello, World!")
            d.wait_workers(2)
        self.assertEqual(len(set(masters)), 4)
        self.assertIn("binary upgrade: the new master", d.log())
        r = run([self.exe, "-c", d.conf, "-s", "stop"])
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: not pid_alive(d.master), what="stop")

    def test_failing_new_binary_leaves_old_serving(self):
        d = self.drover(workers=1, servers=SERVER)
        self.exe = os.path.join(d.dir, "drover")
        shutil.copy2(DROVER, self.exe)
        self.launch(d)
        host, port = d.port("web")
        old = d.master
        workers = d.workers()
        # "Install" a binary that cannot start.
        os.rename(self.exe, self.exe + ".good")
        with open(self.exe, "w") as f:
            f.write("#!/bin/sh\necho broken >&2\nexit 3\n")
        os.chmod(self.exe, 0o755)
        os.kill(old, signal.SIGUSR2)
        d.wait_log(r"binary upgrade failed: the new master exited")
        wait_for(lambda: os.path.exists(d.pid_file), what="pid file back")
        self.assertEqual(d.read_pid(), old)
        self.assertFalse(os.path.exists(d.pid_file + ".oldbin"))
        d.wait_worker_set(workers)
        self.assertEqual(request(host, port, get("/hello")).status, 200)
        # Fixed, the next upgrade goes through.
        os.rename(self.exe + ".good", self.exe)
        self.upgrade(d)
        self.assertEqual(request(host, port, get("/hello")).status, 200)

    def test_daemon_upgrade(self):
        d = self.drover(workers=1, servers=SERVER, daemon=True)
        self.exe = os.path.join(d.dir, "drover")
        shutil.copy2(DROVER, self.exe)
        r = run([self.exe, "-c", d.conf], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.master = d.read_pid()
        host, port = d.port("web")
        r = run([self.exe, "-c", d.conf, "-s", "upgrade"])
        self.assertEqual(r.returncode, 0, r.stderr)
        old = d.master
        wait_for(lambda: os.path.exists(d.pid_file) and
                 d.read_pid() != old and not pid_alive(old),
                 what="the new master to take over")
        d.master = d.read_pid()
        self.assertEqual(request(host, port, get("/hello")).status, 200)

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_failed_reloads_and_upgrades_under_load_lose_nothing(self):
        """A reload with a broken configuration and an upgrade to a binary
        that cannot start, repeated under churn load: the running
        generation keeps serving, every request succeeds."""
        d = self.drover(workers=2, servers=SERVER)
        self.exe = os.path.join(d.dir, "drover")
        shutil.copy2(DROVER, self.exe)
        self.launch(d)
        host, port = d.port("web")
        good = d.conf_text()
        os.rename(self.exe, self.exe + ".good")
        with open(self.exe, "w") as f:
            f.write("#!/bin/sh\nexit 3\n")
        os.chmod(self.exe, 0o755)
        steps = []
        log = d.log()
        base = (log.count("reload failed"), log.count("binary upgrade "
                                                      "failed"))

        def event():
            if len(steps) % 2 == 0:
                d.write_conf(good + "\nbroken {\n")
                os.kill(d.master, signal.SIGHUP)
            else:
                os.kill(d.master, signal.SIGUSR2)
            steps.append(1)

        def settled(n):     # events 1, 3, ... reload; 2, 4, ... upgrade
            log = d.log()
            return (log.count("reload failed") >= base[0] + (n + 1) // 2
                    and log.count("binary upgrade failed") >=
                    base[1] + n // 2)
        r, fired = wrk_during("http://%s:%d/hello" % (host, port), event,
                              ["-H", "Connection: close"], times=4,
                              interval=0.4, settled=settled)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Socket errors", r.stdout, r.stdout)
        self.assertNotIn("Non-2xx", r.stdout, r.stdout)
        self.assertGreaterEqual(fired, 4)
        wait_for(lambda: d.log().count("binary upgrade failed") >= 2,
                 what="the failed upgrades to be reported")
        self.assertGreaterEqual(d.log().count("reload failed"), 2)
        self.assertEqual(d.read_pid(), d.master)

    def test_new_master_reports_mainpid(self):
        import socket as sk
        d = self.drover(workers=1, servers=SERVER)
        self.exe = os.path.join(d.dir, "drover")
        shutil.copy2(DROVER, self.exe)
        path = os.path.join(d.dir, "notify.sock")
        ns = sk.socket(sk.AF_UNIX, sk.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(TIMEOUT)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            self.launch(d)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        new = self.upgrade(d)
        seen = []
        while "MAINPID=%d" % new not in seen:
            seen.extend(ns.recv(4096).decode().split("\n"))
        ns.close()

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare") and
                         shutil.which("ip"), "needs root, unshare and ip")
    def test_in_a_private_network_namespace(self):
        """The load tests again, in a network namespace of their own."""
        probe = run(["unshare", "-n", "true"])
        if probe.returncode != 0:
            self.skipTest("no network namespaces here: %s" % probe.stderr)
        here = os.path.dirname(os.path.abspath(__file__))
        cmd = ("ip link set lo up && %s -B %s/test_upgrade.py "
               "UpgradeTest.test_upgrades_under_load_lose_nothing && "
               "%s -B %s/test_http.py "
               "HttpTest.test_worker_count_changes_under_load_lose_nothing"
               % (sys.executable, here, sys.executable, here))
        r = run(["unshare", "-n", "sh", "-c", cmd], timeout=120,
                env=dict(os.environ, DROVER=DROVER))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("OK", r.stderr)

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_upgrades_under_load_lose_nothing(self):
        d = self.drover(workers=2, servers=SERVER)
        self.exe = os.path.join(d.dir, "drover")
        shutil.copy2(DROVER, self.exe)
        self.launch(d)
        host, port = d.port("web")
        url = "http://%s:%d/hello" % (host, port)
        for extra in (["-H", "Connection: close"], []):
            base = len(d.new_masters())
            r, fired = wrk_during(
                url, lambda: os.kill(d.read_pid(), signal.SIGUSR2), extra,
                times=3, interval=0.8,
                settled=lambda n: d.upgraded(base + n))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("Socket errors", r.stdout, r.stdout)
            self.assertNotIn("Non-2xx", r.stdout, r.stdout)
            self.assertGreaterEqual(fired, 3)
        self.assertNotIn("upgrade failed", d.log())
        d.master = d.read_pid()
        d.started_pids.add(d.master)


if __name__ == "__main__":
    main()
