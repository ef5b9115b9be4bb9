#!/usr/bin/env python3
"""The handover's edges: a new generation with no room for every idle
connection, a server the new configuration drops, the keep-alive time a
connection carries over, and bytes sent while it is in transit."""

import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import DroverTest, main, wait_for  # noqa: E402
from httplib_raw import Conn  # noqa: E402

SERVER = """
server %(name)s {
    listen = {"%(host)s:0"}
    protocol = http
    keepalive_timeout = %(keepalive)d
    location "/" { return = "200 %(name)s" }
    location "/status" { stats = json }
}
"""


def get(path="/"):
    return ("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode()


def servers(*names, keepalive=75):
    """One server per name, each on its own loopback address."""
    return "".join(SERVER % dict(name=n, keepalive=keepalive,
                                 host="127.0.0.%d" % (i + 1))
                   for i, n in enumerate(names))


class HandoverEdgeTest(DroverTest):

    def start(self, names=("web",), keepalive=75, workers=1, extra=""):
        d = self.drover(workers=workers, servers=servers(
            *names, keepalive=keepalive), extra=extra)
        d.start()
        return d

    def status(self, d, server="web"):
        host, port = d.port(server)
        c = Conn(host, port)
        c.send(b"GET /status HTTP/1.1\r\nHost: t\r\nConnection: close"
               b"\r\n\r\n")
        r = c.read_response()
        c.close()
        return json.loads(r.body)["total"]

    def open_idle(self, d, n, server="web"):
        host, port = d.port(server)
        conns = []
        for _ in range(n):
            c = Conn(host, port)
            c.send(get())
            self.assertEqual(c.read_response().status, 200)
            conns.append(c)
        return conns

    def reload(self, d, text=None, **kw):
        old = d.workers()
        if text is not None or kw:
            d.write_conf(text, **kw)
        d.signal(signal.SIGHUP)
        wait_for(lambda: d.workers() and not set(old) & set(d.workers()),
                 what="the old generation to hand over and exit")

    @staticmethod
    def answered_or_closed(c):
        """The next request on c: "ok" when answered, "closed" when the
        server closed it unread (EOF or reset). Never a silent hang: the
        socket timeout fails the test."""
        try:
            c.send(get())
            r = c.read_response()
            return "ok" if r.status == 200 else "status %d" % r.status
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return "closed"

    def test_no_room_closes_after_the_wait_and_hangs_nothing(self):
        """A new generation whose workers cannot take every connection
        (rlimit_nofile): it takes what it can, the rest is closed after
        the handover wait, unread, and counted."""
        d = self.start()
        conns = self.open_idle(d, 60)
        self.reload(d, extra="rlimit_nofile = 40\n")
        outcomes = [self.answered_or_closed(c) for c in conns]
        for c in conns:
            c.close()
        self.assertEqual(set(outcomes) - {"ok", "closed"}, set(), outcomes)
        self.assertIn("ok", outcomes)
        self.assertIn("closed", outcomes)
        total = wait_for(lambda: (lambda t: t if t["drain_closed"] > 0
                                  else None)(self.status(d)),
                         what="drain_closed to count them")
        self.assertEqual(total["drain_closed"], outcomes.count("closed"))
        self.assertGreater(total["handoff_in"], 0)
        d.wait_log(r"connections handed over waited \d+ ms for a worker "
                   r"with a free descriptor: closed")

    def test_a_dropped_server_s_connections_are_closed_unread(self):
        d = self.start(names=("web", "gone"))
        keep = self.open_idle(d, 5, "web")
        gone = self.open_idle(d, 5, "gone")
        self.reload(d, text=d.conf_text(servers=servers("web")))
        self.assertEqual([self.answered_or_closed(c) for c in keep],
                         ["ok"] * 5)
        self.assertEqual([self.answered_or_closed(c) for c in gone],
                         ["closed"] * 5)
        for c in keep + gone:
            c.close()
        total = self.status(d)
        self.assertEqual(total["drain_closed"], 5)
        d.wait_log(r"handed over for server gone, which this "
                   r"configuration does not have")

    @staticmethod
    def closed_by_server(c):
        c.sock.setblocking(False)
        try:
            return c.sock.recv(1) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
        finally:
            c.sock.setblocking(True)

    def test_keepalive_time_runs_on_across_the_handover(self):
        """A connection keeps the keep-alive deadline it had: handed from
        a 3 s keep-alive to a generation with 60 s, it is still closed
        about 3 s after its last request (the wait's only bound is the
        suite's hang guard, far below 60 s), while a connection that went
        idle in the new generation stays open."""
        d = self.start(keepalive=3)
        early = self.open_idle(d, 1)[0]
        self.reload(d, text=d.conf_text(servers=servers("web",
                                                        keepalive=60)))
        late = self.open_idle(d, 1)[0]
        wait_for(lambda: self.closed_by_server(early),
                 what="the handed-over connection's keep-alive to end")
        self.assertFalse(self.closed_by_server(late))
        self.assertEqual(self.answered_or_closed(late), "ok")
        early.close()
        late.close()

    def test_a_request_sent_during_the_handover_is_answered(self):
        """Requests written while their connections are being handed from
        worker to worker are all answered, each once, in order."""
        d = self.start(workers=2)
        conns = self.open_idle(d, 40)
        for rnd in range(3):
            old = d.workers()
            d.signal(signal.SIGHUP)
            turns = 0
            while set(old) & set(d.workers()) or turns < 2:
                turns += 1
                self.assertLess(turns, 2000, "the old generation stays")
                for c in conns:     # some are in transit now
                    c.send(get())
                for c in conns:
                    r = c.read_response()
                    self.assertEqual((r.status, r.body), (200, b"web"))
        for c in conns:
            c.close()
        total = self.status(d)
        self.assertEqual(total["drain_closed"], 0)
        self.assertGreaterEqual(total["handoff_in"], 40)


if __name__ == "__main__":
    main()
