"""/status and /metrics that survive: series labelled server, generation and
slot (never a pid), bounded however often drover reloads or a worker dies,
counts that go to the right server, totals that never go down across
reloads, crashes and binary upgrades; and worker_hang_timeout, which kills
a worker whose loop has stopped turning and has it replaced."""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, DroverTest, echo_roundtrip,  # noqa: E402
                       free_port, main, pid_alive, ss_connection_pids,
                       wait_for)
from httplib_raw import Conn, get, request  # noqa: E402

SERVERS = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/status" { stats = json }
    location "/metrics" { stats = prometheus }
    location "/hello" { return = "200 Hello, World!" }
}
server other {
    listen = {"127.0.0.1:%d"}
    protocol = http
    location "/" { return = "200 other" }
}
server echo {
    listen = {"127.0.0.1:%d"}
    protocol = echo
}
"""

SAMPLE = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? (\d+)$')
LABEL = re.compile(r'([a-z_]+)="([^"]*)"')


def no_core():
    """Children of the test make no core files (SIGABRT dumps one)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class MetricsTest(DroverTest):

    def start(self, workers=2, extra="", copy=False):
        """drover with the two servers; with copy, from a copy of the
        binary, which a binary upgrade then execs again."""
        d = self.drover(workers=workers, extra=extra,
                        servers=SERVERS % (free_port(), free_port()))
        if not copy:
            d.start(preexec=no_core)
        else:
            exe = os.path.join(d.dir, "drover")
            shutil.copy2(DROVER, exe)
            d.stderr = open(d.log_file, "ab")
            d.proc = subprocess.Popen([exe, "-f", "-c", d.conf],
                                      stdin=subprocess.DEVNULL,
                                      stdout=d.stderr, stderr=d.stderr,
                                      preexec_fn=no_core)
            d.master = d.proc.pid
            wait_for(lambda: os.path.exists(d.ports_file)
                     or d.proc.poll() is not None, what="drover to serve")
            d.started_pids.update(d.workers())
        self.d = d
        self.web = d.port("web")
        self.other = d.port("other")
        self.echo = d.port("echo")
        return d

    def req(self, path, addr=None):
        host, port = addr or self.web
        r = request(host, port, get(path, extra="Connection: close\r\n"))
        self.assertEqual(r.status, 200, path)
        return r

    def status(self):
        return json.loads(self.req("/status").body)

    def metrics(self):
        """[(name, {label: value}, value)] from /metrics."""
        out = []
        for line in self.req("/metrics").body.decode().splitlines():
            if line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            self.assertIsNotNone(m, line)
            out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")),
                        int(m.group(3))))
        return out

    def series(self, samples, name="drover_requests_total"):
        return {(lb["server"], lb["generation"], lb["slot"])
                for n, lb, _ in samples if n == name}

    def sums(self, samples):
        """Counters summed over generation and slot: what must never go
        down, by (metric, server, class)."""
        out = {}
        for name, lb, v in samples:
            if not name.endswith("_total"):
                continue
            key = (name, lb.get("server"), lb.get("class"),
                   lb.get("outcome"))
            out[key] = out.get(key, 0) + v
        return out

    def check_monotonic(self, before, after, what):
        for key, v in before.items():
            self.assertGreaterEqual(after.get(key, 0), v,
                                    "%s went down %s" % (key, what))

    def json_totals(self, st):
        t = dict(st["total"])
        t.update(("responses_" + k, v) for k, v in t.pop("responses").items())
        t.pop("active")
        return t

    def wait_ended(self, n):
        wait_for(lambda: len(re.findall(r"generation \d+ has ended",
                                        self.d.log())) >= n,
                 what="%d generations to end" % n)

    # -- labels ----------------------------------------------------------

    def test_labels_and_per_server_counts(self):
        self.start()
        for _ in range(7):
            self.req("/x", self.other)
        samples = self.metrics()
        text = self.req("/metrics").body.decode()
        self.assertNotIn("pid", text)
        self.assertNotIn("worker=", text)
        for name, lb, _ in samples:
            if name.startswith("drover_generation_"):
                self.assertEqual(set(lb), {"generation"}, name)
            elif name in ("drover_workers", "drover_workers_exited_total",
                          "drover_foreign_sockets",
                          "drover_foreign_sockets_seen_total"):
                self.assertEqual(lb, {}, name)
            elif name == "drover_reloads_total":
                self.assertIn(lb["outcome"], ("ok", "failed"))
            else:
                want = {"server", "generation", "slot"}
                if name == "drover_responses_total":
                    want.add("class")
                if name == "drover_datagrams_dropped_total":
                    want.add("cause")
                self.assertEqual(set(lb), want, name)
        self.assertEqual(self.series(samples),
                         {(s, "1", str(i)) for s in ("web", "other", "echo")
                          for i in range(2)})
        for name in ("drover_handoff_out_total", "drover_handoff_in_total",
                     "drover_drain_closed_total", "drover_reloads_total",
                     "drover_generation_workers",
                     "drover_generation_draining_workers",
                     "drover_generation_connections"):
            self.assertIn(name, {n for n, _, _ in samples})
        st = self.status()
        other = st["servers"]["other"]
        self.assertEqual(other["requests"], 7)
        self.assertEqual(other["responses"]["2xx"], 7)
        self.assertEqual(other["accepted"], 7)
        self.assertEqual(st["servers"]["web"]["requests"], 3)
        self.assertEqual(echo_roundtrip(*self.echo, payload=b"12345"),
                         b"12345")
        st = self.status()
        echo = st["servers"]["echo"]
        self.assertEqual((echo["accepted"], echo["bytes_in"],
                          echo["bytes_out"], echo["requests"]), (1, 5, 5, 0))
        for key in ("handoff_out", "handoff_in", "drain_closed"):
            self.assertIn(key, st["total"])
            self.assertIn(key, st["series"][0])
        self.assertEqual(st["generations"][0]["workers"], 2)
        self.assertEqual(st["generations"][0]["draining"], 0)
        self.assertIn("ok", st["reloads"])

    # -- reloads and crashes ---------------------------------------------

    def test_reloads_keep_series_bounded_and_totals_up(self):
        d = self.start()
        before = self.sums(self.metrics())
        total = self.json_totals(self.status())
        counts = []
        for i in range(1, 11):
            self.req("/x", self.other)
            d.signal(signal.SIGHUP)
            d.wait_log(r"reload done: generation %d serves" % (i + 1))
            self.wait_ended(i)
            samples = self.metrics()
            now = self.sums(samples)
            self.check_monotonic(before, now, "after reload %d" % i)
            before = now
            t = self.json_totals(self.status())
            self.check_monotonic(total, t, "in /status after reload %d" % i)
            total = t
            live = self.series(samples)
            counts.append(len(live))
            self.assertEqual({g for _, g, _ in live},
                             {str(i + 1), "retired"})
        # One live generation of 2 slots and a retired series, per server.
        self.assertEqual(counts, [9] * 10)
        self.assertEqual(self.status()["servers"]["other"]["requests"], 10)

    def test_worker_crash_keeps_its_series(self):
        d = self.start()
        for _ in range(5):
            self.req("/x", self.other)
        before = self.sums(self.metrics())
        series = self.series(self.metrics())
        held, _ = self.serving_worker()     # open when its worker dies
        for victim in d.workers():
            os.kill(victim, signal.SIGKILL)
            d.wait_workers(2, exclude=[victim])
            wait_for(lambda: all(w["pid"] != victim
                                 for w in self.status()["workers"]),
                     what="the dead worker's record to go")
        samples = self.metrics()
        self.assertEqual(self.series(samples), series)
        self.check_monotonic(before, self.sums(samples), "after crashes")
        st = self.status()
        self.assertEqual(st["servers"]["other"]["requests"], 5)
        # Only this request once the last one's lingering close is over:
        # the held connection died with its worker and is not counted.
        wait_for(lambda: self.status()["total"]["active"] == 1,
                 what="open connections: only the /status request")
        held.close()
        self.assertGreaterEqual(st["retired"]["workers"], 2)

    # -- binary upgrade ----------------------------------------------------

    def test_totals_survive_binary_upgrade(self):
        d = self.start(copy=True)
        for _ in range(20):
            self.req("/x", self.other)
        st = self.status()
        total, before = self.json_totals(st), self.sums(self.metrics())
        gens = {g["generation"] for g in st["generations"]}
        old, old_workers = d.master, d.workers()
        os.kill(old, signal.SIGUSR2)

        def scrape():
            """Every scrape while both masters run: nothing goes down."""
            nonlocal total, before
            t = self.json_totals(self.status())
            self.check_monotonic(total, t, "in /status during the upgrade")
            s = self.sums(self.metrics())
            self.check_monotonic(before, s, "during the upgrade")
            total, before = t, s
            return (os.path.exists(d.pid_file) and d.read_pid() != old
                    and not pid_alive(old)
                    and not any(pid_alive(w) for w in old_workers))
        wait_for(scrape, what="the new master to take over", interval=0.05)
        d.master = d.read_pid()
        d.started_pids.add(d.master)
        st = self.status()
        self.assertGreaterEqual(st["servers"]["other"]["requests"], 20)
        self.check_monotonic(total, self.json_totals(st), "after upgrade")
        # The new master numbers its generations on from the old one's.
        self.assertTrue(all(g["generation"] > max(gens)
                            for g in st["generations"]), st["generations"])
        self.assertIn("stats: carrying on the old master's counters",
                      d.log())

    # -- worker_hang_timeout -------------------------------------------------

    def serving_worker(self):
        """A keep-alive connection to web and the worker that holds it."""
        c = Conn(*self.web)
        c.send(get("/hello"))
        self.assertEqual(c.read_response().status, 200)
        pids = set(ss_connection_pids(self.web[1])) & set(self.d.workers())
        self.assertEqual(len(pids), 1)
        return c, pids.pop()

    def status_on(self, c):
        c.send(get("/status"))
        return json.loads(c.read_response().body)

    def test_hung_worker_is_killed_and_replaced(self):
        d = self.start(extra="worker_hang_timeout = 2")
        c, keep = self.serving_worker()
        victim = [w for w in d.workers() if w != keep][0]
        slot = [w["slot"] for w in self.status_on(c)["workers"]
                if w["pid"] == victim][0]
        os.kill(victim, signal.SIGSTOP)
        try:
            wait_for(lambda: not pid_alive(victim),
                     what="the stopped worker to be killed")
        finally:
            if pid_alive(victim):
                os.kill(victim, signal.SIGCONT)
        self.assertRegex(d.log(), r"worker 1\.%d \(pid %d\) has not turned "
                         r"its loop for \d+ s: killing it with SIGABRT"
                         % (slot, victim))
        new = d.wait_workers(2, exclude=[victim])
        wait_for(lambda: any(w["slot"] == slot and w["pid"] in new
                             and w["pid"] != victim
                             for w in self.status_on(c)["workers"]),
                 what="a new worker in slot %d" % slot)
        for _ in range(10):     # whichever worker a connection lands on
            self.req("/hello")
        c.close()

    def test_hang_timeout_zero_is_off(self):
        d = self.start(extra="worker_hang_timeout = 0")
        c, keep = self.serving_worker()
        victim = [w for w in d.workers() if w != keep][0]
        beat = {w["pid"]: w["heartbeat"]
                for w in self.status_on(c)["workers"]}
        os.kill(victim, signal.SIGSTOP)
        try:
            # The live worker's heartbeat is the clock the master would
            # read: once it is 5 s past the stopped worker's, a 2 s
            # timeout checked every second would have fired twice over.
            # This waits on that clock, not on a fixed sleep.
            wait_for(lambda: self.status_on(c)["workers"] and max(
                w["heartbeat"] for w in self.status_on(c)["workers"]) -
                beat[victim] >= 5, interval=0.2,
                what="5 s of heartbeats past the stopped worker")
            self.assertTrue(pid_alive(victim))
            self.assertNotIn("has not turned its loop", d.log())
        finally:
            os.kill(victim, signal.SIGCONT)
        c.close()


if __name__ == "__main__":
    main()
