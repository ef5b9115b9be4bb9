"""Reloads that close nothing: keep-alive connections idling between
requests, reused without a check (idleclient.py), live through HUP
storms, worker-count changes and binary upgrades. Not one request fails,
not one connection has to be replaced, and the idle connections of a
draining generation were handed over (/status "handoff_in"), not closed.
The bounded form of contrib/bench/idle."""

import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import TIMEOUT, DroverTest, main, pid_alive, wait_for  # noqa
from httplib_raw import get, request  # noqa: E402
from idleclient import Pool  # noqa: E402

SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    keepalive_timeout = 75
    location "/ok" { return = "200 ok" }
    location "/status" { stats = json }
}
"""

CONNS = 40
IDLE = (0.0, 2.0)       # seconds between a connection's requests
PACE = (0.5, 1.0)       # seconds between two reloads, once one is done
RELOADS = 10
UPGRADES = 6


def status_totals(addr):
    """/status "total" counters, read on a connection of its own."""
    r = request(addr[0], addr[1], get("/status"), timeout=TIMEOUT)
    if r.status != 200:
        raise AssertionError("/status: %d %r" % (r.status, r.body))
    return json.loads(r.body)["total"]


class HandoverTest(DroverTest):

    def start(self, workers=2):
        d = self.drover(workers=workers, servers=SERVER)
        d.start()
        d.wait_workers(workers)
        return d

    def storm(self, d, fire, settled, events):
        """Run the pool while fire(i) is done events times, each once
        the previous one has taken effect (settled(n), bounded) and a
        random pause of PACE has passed (the workload, not a wait for
        readiness); then until every connection has been used after the
        last event. Returns the pool's result and the totals."""
        addr = d.port("web")
        pool = Pool(addr, CONNS, IDLE, timeout=TIMEOUT / 3,
                    seed=random.randrange(1 << 30))
        pool.connect_all()
        mine = sorted(s.getsockname() for s in pool.sockets())
        rng = random.Random()
        try:
            pool.start()
            for i in range(events):
                time.sleep(rng.uniform(*PACE))
                fire(i)
                wait_for(lambda: settled(i + 1),
                         what="event %d to take effect" % (i + 1))
            last = time.monotonic()
            wait_for(lambda: pool.all_done_since(last) or pool.error,
                     what="every connection to be used after the last "
                          "event")
        finally:
            result = pool.stop()
        still = sorted(s.getsockname() for s in pool.sockets())
        pool.close()
        totals = status_totals(addr)
        summary = ("%s; first errors %s; /status totals: handoff_out %s, "
                   "handoff_in %s, drain_closed %s"
                   % (result.summary(), result.first_errors,
                      totals.get("handoff_out", "-"),
                      totals.get("handoff_in", "-"),
                      totals.get("drain_closed", "-")))
        print(summary)
        # Every request answered; never a connection closed under the
        # client (a failure), nor one the server asked it to give up
        # (Connection: close) because its generation was draining.
        self.assertEqual(result.failed, 0, summary)
        self.assertEqual(result.server_closes, 0, summary)
        self.assertEqual(result.reconnects, 0, summary)
        self.assertEqual(still, mine, "the client's sockets changed")
        self.assertGreater(result.ok, CONNS, summary)
        self.assertIn("handoff_in", totals, summary)
        self.assertGreater(totals["handoff_in"], 0, summary)
        return result, totals

    def reloads_done(self, d, base):
        return lambda n: d.log().count("reload done: generation") >= base + n

    def test_hup_storm_closes_nothing(self):
        d = self.start(workers=2)
        self.storm(d, lambda i: d.signal(signal.SIGHUP),
                   self.reloads_done(d, d.log().count("reload done")),
                   RELOADS)
        # The drained generations end: nothing held them back.
        d.wait_workers(2)

    def test_worker_count_changes_close_nothing(self):
        d = self.start(workers=2)
        counts = [3, 2]

        def fire(i):
            d.write_conf(workers=counts[i % 2])
            d.signal(signal.SIGHUP)
        self.storm(d, fire, self.reloads_done(d, d.log().count(
            "reload done")), RELOADS)
        d.wait_workers(counts[(RELOADS - 1) % 2])

    def test_binary_upgrades_close_nothing(self):
        d = self.start(workers=2)
        masters = [d.master]

        def fire(i):
            os.kill(masters[-1], signal.SIGUSR2)

        def settled(n):
            if not d.upgraded(n):
                return False
            if d.read_pid() != masters[-1]:
                masters.append(d.read_pid())
                d.master = masters[-1]
                d.started_pids.add(d.master)
                d.workers()
            return True
        self.storm(d, fire, settled, UPGRADES)
        self.assertEqual(len(masters), UPGRADES + 1)
        # Every old master leaves once its connections are handed over.
        for old in masters[:-1]:
            wait_for(lambda: not pid_alive(old),
                     what="old master %d to exit" % old)
        d.wait_workers(2)


if __name__ == "__main__":
    main()
