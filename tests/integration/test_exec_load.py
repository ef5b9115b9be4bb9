"""An exec server (protocol = exec) under load: contrib/bench/exec/app.py,
two processes per generation, ready = notify, served through a storm of
reloads, the kill -9 of a process while connections wait for it, and
binary upgrades; not one request may fail or go unanswered."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, main, pid_alive,  # noqa
                       run, wait_for, wrk_during)
from httplib_raw import Conn, get  # noqa: E402

SRCDIR = os.environ.get("TESTS_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")
APP = os.path.abspath(os.path.join(SRCDIR, "..", "contrib", "bench", "exec",
                                   "app.py"))

# --drain-idle: a stopping process closes a keep-alive connection idle
# that long. The clients here send the next request at once, so only a
# client starved of CPU for that long could see its connection closed
# under it (a race inherent to HTTP/1.1 keep-alive, not drover's).
SERVER = """
server app {
    listen = {"127.0.0.1:0"}
    protocol = exec
    command = {"%s", "%s", "--startup-delay", "0.2", "--drain-idle", "10"}
    processes = 2
    ready = notify
}
""" % (sys.executable, APP)


class Load:
    """Client threads sending GET / until stopped (bounded by count and
    time): `keepalive` of them on keep-alive connections, `close` with a
    connection per request. Any error, EOF, reset, timeout or status
    other than 200 is a failure; a response with Connection: close just
    ends its connection."""

    MAX_REQUESTS = 200000

    def __init__(self, host, port, keepalive=2, close=2):
        self.host, self.port = host, port
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.pids = {}            # X-Pid -> responses
        self.deadline = time.monotonic() + 4 * TIMEOUT
        self.threads = [threading.Thread(target=self.client, args=(ka,),
                                         daemon=True)
                        for ka in [True] * keepalive + [False] * close]

    def start(self):
        for t in self.threads:
            t.start()
        wait_for(lambda: self.ok >= 20 or self.failures,
                 what="the load to run")
        return self

    def running(self):
        return (not self.stop_ev.is_set() and
                time.monotonic() < self.deadline and
                self.ok + len(self.failures) < self.MAX_REQUESTS)

    def client(self, keepalive):
        extra = "" if keepalive else "Connection: close\r\n"
        c = None
        while self.running():
            try:
                if c is None:
                    c = Conn(self.host, self.port, TIMEOUT)
                c.send(get("/", extra=extra))
                r = c.read_response()
                if r.status != 200:
                    raise ValueError("status %d" % r.status)
                pid = int(r.header("x-pid"))
                with self.lock:
                    self.ok += 1
                    self.pids[pid] = self.pids.get(pid, 0) + 1
                if not keepalive or (r.header("connection") or
                                     "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, EOFError, ValueError, TypeError) as e:
                with self.lock:
                    self.failures.append("%s %r" % (
                        "keep-alive" if keepalive else "close", e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def served_by(self, pids):
        """Some response came from one of pids."""
        with self.lock:
            return any(p in self.pids for p in pids)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(TIMEOUT + 5)
        stuck = [t for t in self.threads if t.is_alive()]
        if stuck:
            raise AssertionError("%d client threads still wait for an "
                                 "answer" % len(stuck))
        return self


def listen_queues(port):
    """{socket inode: connections waiting in its accept queue} of the
    listeners on port (ss: Recv-Q of a listening socket)."""
    out = subprocess.run(["ss", "-Hltne", "sport = :%d" % port],
                         capture_output=True, text=True, check=True).stdout
    queues = {}
    for line in out.splitlines():
        f = line.split()
        ino = [x for x in f if x.startswith("ino:")]
        if ino:
            queues[int(ino[0][4:])] = int(f[1])
    return queues


def fd_inode(pid, fd):
    target = os.readlink("/proc/%d/fd/%d" % (pid, fd))
    assert target.startswith("socket:["), target
    return int(target[8:-1])


class ExecLoadTest(DroverTest):

    def setUp(self):
        super().setUp()
        if not os.path.exists(APP):
            self.skipTest("no %s" % APP)

    def start(self):
        d = self.drover(workers=1, servers=SERVER)
        d.start()
        host, port = d.port("app")
        apps = d.wait_workers(2)
        return d, host, port, set(apps)

    def reload(self, d):
        """drover -s reload: returns once the reload (and any still
        running) is done; its verdict must be ok."""
        r = run([DROVER, "-c", d.conf, "-s", "reload"], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_hup_storm_under_load_loses_nothing(self):
        d, host, port, first = self.start()
        load = Load(host, port).start()
        try:
            for _ in range(8):
                d.signal(signal.SIGHUP)
                # The storm's cadence (a load pattern), not a wait
                # for readiness: the reload below waits on the verdict.
                time.sleep(random.uniform(0.25, 0.5))
            # The storm's last reload done (a HUP during a starting
            # generation is coalesced), the old processes stopped.
            self.reload(d)
            now = d.wait_workers(2, exclude=first)
            wait_for(lambda: load.served_by(now),
                     what="a response from the last generation %s" % now)
        finally:
            load.stop()
        self.assertEqual(load.failures, [], "%d ok" % load.ok)
        self.assertGreater(len(load.pids), 2, load.pids)
        self.assertNotIn("reload failed", d.log())

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_hup_storm_under_wrk_loses_nothing(self):
        d, host, port, first = self.start()
        url = "http://%s:%d/" % (host, port)
        for extra in (["-H", "Connection: close"], []):
            r, fired = wrk_during(url, lambda: d.signal(signal.SIGHUP),
                                  extra, times=8, interval=0.3, conns=32)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("Socket errors", r.stdout, r.stdout)
            self.assertNotIn("Non-2xx", r.stdout, r.stdout)
            self.assertEqual(fired, 8)
        self.reload(d)
        d.wait_workers(2, exclude=first)
        self.assertNotIn("reload failed", d.log())

    def test_kill9_with_queued_connections_loses_none(self):
        """Both processes stopped, 20 requests queue in the listeners; one
        process is killed, the other resumed: the killed process's queue
        is kept, and its replacement (or the other) answers all."""
        d, host, port, first = self.start()
        victim, other = sorted(first)
        victim_ino = fd_inode(victim, 3)
        conns = []
        for p in first:
            os.kill(p, signal.SIGSTOP)
        try:
            for _ in range(20):
                c = Conn(host, port, TIMEOUT)
                c.send(get("/", extra="Connection: close\r\n"))
                conns.append(c)
            queues = wait_for(
                lambda: (lambda q: sum(q.values()) == 20 and q)(
                    listen_queues(port)),
                what="20 connections queued (%s)" % listen_queues(port))
            self.assertGreater(queues.get(victim_ino, 0), 0,
                               "nothing queued in the victim's listener: "
                               "%s" % queues)
            os.kill(victim, signal.SIGKILL)
            os.kill(other, signal.SIGCONT)
            answered = {}
            failures = []
            for i, c in enumerate(conns):
                try:
                    r = c.read_response()
                    self.assertEqual(r.status, 200)
                    pid = int(r.header("x-pid"))
                    answered[pid] = answered.get(pid, 0) + 1
                except (OSError, EOFError) as e:
                    failures.append("connection %d: %r" % (i, e))
        finally:
            for c in conns:
                c.close()
            for p in first:
                if pid_alive(p):
                    os.kill(p, signal.SIGCONT)
        self.assertEqual(failures, [], "answered: %s, queues before the "
                         "kill: %s" % (answered, queues))
        self.assertNotIn(victim, answered)
        self.assertEqual(sum(answered.values()), 20)
        # The slot is served again by a new process.
        now = d.wait_workers(2, exclude=[victim])
        self.assertIn(other, now)
        d.wait_log(r"process %d of server app \(generation \d+, slot \d\) "
                   r"killed by signal 9" % victim)

    def test_upgrade_under_load_loses_nothing(self):
        d, host, port, first = self.start()
        load = Load(host, port).start()
        masters = [d.master]
        try:
            for _ in range(2):
                old_master, old_apps = d.master, set(d.workers())
                r = run([DROVER, "-c", d.conf, "-s", "upgrade"],
                        timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                wait_for(lambda: d.read_pid() != old_master and
                         not pid_alive(old_master),
                         what="the new master to take over")
                d.master = d.read_pid()
                d.started_pids.add(d.master)
                masters.append(d.master)
                now = d.wait_workers(2, exclude=old_apps)
                for p in old_apps:
                    wait_for(lambda: not pid_alive(p),
                             what="old app process %d to exit" % p)
                wait_for(lambda: load.served_by(now),
                         what="a response from the new processes %s" % now)
        finally:
            load.stop()
        self.assertEqual(load.failures, [], "%d ok" % load.ok)
        self.assertEqual(len(set(masters)), 3)
        self.assertEqual(d.port("app"), (host, port))
        self.assertNotIn("upgrade failed", d.log())


if __name__ == "__main__":
    main()
