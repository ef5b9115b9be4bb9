"""protocol = udp_proxy: datagrams relayed to an upstream the test runs
(a Python UDP echo that notes who sent what) and the replies back from
the address the client wrote to (IPv4, IPv6, a wildcard address); a
session per client (one upstream source port while it lives, a new one
after idle_timeout or once udp_responses replies came); a refusing
upstream counted in dropped_upstream, the session limit in
dropped_session; round_robin spreads clients; and across reloads the old
sessions still relay the replies due (an upstream that answers late)."""

import heapq
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, free_port,  # noqa: E402
                       ipv6_loopback_available, main, wait_for)
from test_udp import (fam, reloads_settled,  # noqa: E402
                      server_counters, udp_roundtrip)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "contrib", "bench", "udp"))
from sender import Flow  # noqa: E402

STATUS_SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/s" { stats = json }
}
"""


def stats(port):
    """The stats = json document at /s."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.sendall(b"GET /s HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0] + b" ":
        raise AssertionError("/s: %r" % head[:200])
    return json.loads(body)


class Upstream:
    """A UDP echo on host:0 in a thread: each datagram comes back to its
    sender after delay seconds; sources keeps every sender's address, in
    order, with the payload."""

    def __init__(self, host="127.0.0.1", delay=0.0):
        self.sock = socket.socket(fam(host), socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.addr = "%s:%d" % ("[%s]" % host if ":" in host else host,
                               self.port)
        self.delay = delay
        self.lock = threading.Lock()
        self.seen = []          # (payload, (host, port))
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        due = []                # (time, n, payload, addr)
        n = 0
        while not self.stopping:
            wait = 0.1
            if due:
                wait = max(0.0, min(wait, due[0][0] - time.monotonic()))
            r, _, _ = select.select([self.sock], [], [], wait)
            if r:
                data, src = self.sock.recvfrom(65536)
                with self.lock:
                    self.seen.append((data, src[:2]))
                n += 1
                heapq.heappush(due, (time.monotonic() + self.delay, n,
                                     data, src))
            while due and due[0][0] <= time.monotonic():
                _, _, data, src = heapq.heappop(due)
                try:
                    self.sock.sendto(data, src)
                except OSError:
                    pass

    def ports_of(self, prefix):
        """The source ports datagrams starting with prefix came from."""
        with self.lock:
            return [src[1] for data, src in self.seen
                    if data.startswith(prefix)]

    def count(self):
        with self.lock:
            return len(self.seen)

    def stop(self):
        self.stopping = True
        self.thread.join(TIMEOUT)
        self.sock.close()


def proxy_server(name, listen, upstream, extra=""):
    return """
server %s {
    listen = {%s}
    protocol = udp_proxy
    upstream = %s
    %s
}
""" % (name, ", ".join('"%s"' % a for a in listen), upstream, extra)


def upstream_block(name, servers, extra=""):
    return """
upstream %s {
    servers = {%s}
    %s
}
""" % (name, ", ".join('"%s"' % s for s in servers), extra)


class Client:
    """One client socket (one source port: one session)."""

    def __init__(self, host, port):
        self.dst = (host, port)
        self.sock = socket.socket(fam(host), socket.SOCK_DGRAM)
        self.sock.settimeout(TIMEOUT / 3)

    def ask(self, payload):
        """payload out; (reply, its source) back, or (None, None)."""
        self.sock.sendto(payload, self.dst)
        try:
            data, src = self.sock.recvfrom(65536)
        except socket.timeout:
            return None, None
        return data, src[:2]

    def close(self):
        self.sock.close()


class UdpProxyTest(DroverTest):

    def setUp(self):
        super().setUp()
        self.upstreams = []
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for u in self.upstreams:
            u.stop()
        super().tearDown()

    def upstream(self, host="127.0.0.1", delay=0.0):
        u = Upstream(host, delay)
        self.upstreams.append(u)
        return u

    def client(self, host, port):
        c = Client(host, port)
        self.clients.append(c)
        return c

    def start(self, servers, workers=2):
        d = self.drover(workers=workers, servers=servers + STATUS_SERVER)
        d.start()
        d.wait_workers(workers)
        return d

    def counters(self, d):
        return server_counters(stats(d.port("web")[1]), "p")

    def wait_relays(self, host, port):
        """The proxy answers (datagrams sent before its sockets were
        read may be lost: poll)."""
        wait_for(lambda: udp_roundtrip(host, port, b"ready?", 0.5)[0] ==
                 b"ready?", what="udp_proxy to relay on %s:%d"
                 % (host, port))

    # -- addresses -----------------------------------------------------

    def test_relay_ipv4_ipv6_and_wildcard(self):
        v6 = ipv6_loopback_available()
        up = self.upstream()
        listen = ["127.0.0.1:0", "0.0.0.0:0"] + (["[::1]:0"] if v6 else [])
        d = self.start(upstream_block("e", [up.addr]) +
                       proxy_server("p", listen, "e"))
        addrs = d.ports()["p"]
        (_, lo_port), (_, any_port) = addrs[0], addrs[1]
        self.wait_relays("127.0.0.1", lo_port)
        payload = bytes(range(256)) * 4 + b"\0end"
        data, src = udp_roundtrip("127.0.0.1", lo_port, payload)
        self.assertEqual(data, payload)
        self.assertEqual(src, ("127.0.0.1", lo_port))
        # The wildcard socket answers from the address each datagram was
        # sent to, not from the one routing would pick.
        for dst in ("127.0.0.1", "127.0.0.2"):
            data, src = udp_roundtrip(dst, any_port, b"to " + dst.encode())
            self.assertEqual(data, b"to " + dst.encode())
            self.assertEqual(src, (dst, any_port),
                             "reply to %s came from %s" % (dst, src))
        if v6:
            _, port = addrs[2]
            self.wait_relays("::1", port)
            data, src = udp_roundtrip("::1", port, b"six")
            self.assertEqual((data, src), (b"six", ("::1", port)))
        else:
            print("(::1 unavailable: IPv6 part skipped)", file=sys.stderr)
        self.assertIn(b"to 127.0.0.2", [p for p, _ in up.seen])

    def test_ipv6_upstream_behind_wildcard_ipv6(self):
        if not ipv6_loopback_available():
            self.skipTest("::1 unavailable")
        up = self.upstream("::1")
        d = self.start(upstream_block("e", [up.addr]) +
                       proxy_server("p", ["[::]:0"], "e"))
        (_, port), = d.ports()["p"]
        self.wait_relays("::1", port)
        data, src = udp_roundtrip("::1", port, b"any six")
        self.assertEqual((data, src), (b"any six", ("::1", port)))

    # -- sessions ------------------------------------------------------

    def test_session_keeps_its_port_until_idle_timeout(self):
        up = self.upstream()
        d = self.start(upstream_block("e", [up.addr]) +
                       proxy_server("p", ["127.0.0.1:0"], "e",
                                    "idle_timeout = 1"))
        (host, port), = d.ports()["p"]
        self.wait_relays(host, port)
        a, b = self.client(host, port), self.client(host, port)
        for i in range(3):
            for name, c in ((b"a", a), (b"b", b)):
                msg = name + b"%d" % i
                self.assertEqual(c.ask(msg), (msg, (host, port)))
        pa, pb = up.ports_of(b"a"), up.ports_of(b"b")
        self.assertEqual(len(set(pa)), 1, "client a's session: %s" % pa)
        self.assertEqual(len(set(pb)), 1, "client b's session: %s" % pb)
        self.assertNotEqual(pa[0], pb[0])
        # Every session ends after a second without traffic ...
        wait_for(lambda: self.counters(d).get("active") == 0,
                 what="the sessions to idle out")
        # ... and the next datagram opens a new one.
        self.assertEqual(a.ask(b"a-again"), (b"a-again", (host, port)))
        again = up.ports_of(b"a-again")
        self.assertEqual(len(again), 1)
        self.assertNotEqual(again[0], pa[0])
        self.assertEqual(self.counters(d).get("active"), 1)

    def test_udp_responses_ends_the_session(self):
        up = self.upstream()
        d = self.start(upstream_block("e", [up.addr]) +
                       proxy_server("p", ["127.0.0.1:0"], "e",
                                    "udp_responses = 1"))
        (host, port), = d.ports()["p"]
        self.wait_relays(host, port)
        c = self.client(host, port)
        for i in range(3):
            msg = b"q%d" % i
            self.assertEqual(c.ask(msg), (msg, (host, port)))
        ports = [up.ports_of(b"q%d" % i)[0] for i in range(3)]
        self.assertEqual(len(set(ports)), 3,
                         "one session per question: %s" % ports)
        wait_for(lambda: self.counters(d).get("active") == 0,
                 what="no session left open")

    def test_a_counted_reply_due_outlasts_the_grace(self):
        """With udp_responses, an old session waits for the reply it is
        owed past the 2 s grace of sessions whose dues are unknown."""
        up = self.upstream(delay=3.0)
        d = self.start(upstream_block("e", [up.addr]) +
                       proxy_server("p", ["127.0.0.1:0"], "e",
                                    "udp_responses = 1\n    "
                                    "idle_timeout = 20"))
        (host, port), = d.ports()["p"]
        # No wait_relays: a probe would wait 3 s. The socket exists
        # (the master opened it), so the datagram waits in it if need be.
        c = self.client(host, port)
        c.sock.settimeout(TIMEOUT)
        c.sock.sendto(b"late", (host, port))
        wait_for(lambda: up.ports_of(b"late"),
                 what="the upstream to get the question")
        old = d.workers()
        d.signal(signal.SIGHUP)
        d.wait_workers(2, exclude=old)
        data, src = c.sock.recvfrom(65536)
        self.assertEqual((data, src[:2]), (b"late", (host, port)))

    def test_dead_upstream_is_counted(self):
        dead = free_port(udp=True)
        d = self.start(upstream_block("e", ["127.0.0.1:%d" % dead]) +
                       proxy_server("p", ["127.0.0.1:0"], "e"))
        (host, port), = d.ports()["p"]
        c = self.client(host, port)
        c.sock.settimeout(0.3)
        # One datagram at a time: each is refused (an ICMP port
        # unreachable on the session's socket) and counted; the session
        # ends with it, so the next one is a new try.
        for i in range(1, 4):
            self.assertEqual(c.ask(b"anyone?"), (None, None))
            wait_for(lambda: self.counters(d).get("dropped_upstream") == i,
                     what="dropped_upstream to be %d (%r)"
                     % (i, self.counters(d)))
        cnt = self.counters(d)
        self.assertEqual(cnt.get("datagrams_out"), 0, cnt)
        self.assertEqual(cnt.get("active"), 0, cnt)
        self.assertIn("Connection refused", d.log())

    def test_session_limit(self):
        up = self.upstream()
        d = self.start(upstream_block("e", [up.addr]) +
                       proxy_server("p", ["127.0.0.1:0"], "e",
                                    "max_connections = 1"), workers=1)
        (host, port), = d.ports()["p"]
        a, b = self.client(host, port), self.client(host, port)
        b.sock.settimeout(0.5)
        wait_for(lambda: a.ask(b"first")[0] == b"first",
                 what="a session for client a")
        self.assertEqual(b.ask(b"second"), (None, None))
        wait_for(lambda: self.counters(d).get("dropped_session") == 1,
                 what="dropped_session to be 1 (%r)" % self.counters(d))
        self.assertEqual(up.ports_of(b"second"), [])
        self.assertEqual(a.ask(b"again"), (b"again", (host, port)))

    def test_round_robin_spreads_clients(self):
        one, two = self.upstream(), self.upstream()
        # One worker: its round robin alone decides.
        d = self.start(upstream_block("e", [one.addr, two.addr],
                                      "balance = round_robin") +
                       proxy_server("p", ["127.0.0.1:0"], "e"), workers=1)
        (host, port), = d.ports()["p"]
        self.wait_relays(host, port)
        before = (one.count(), two.count())
        for i in range(4):
            c = self.client(host, port)
            msg = b"c%d" % i
            self.assertEqual(c.ask(msg), (msg, (host, port)))
        got = (one.count() - before[0], two.count() - before[1])
        self.assertEqual(got, (2, 2), "4 clients over 2 servers: %s" %
                         (got,))

    # -- reloads -------------------------------------------------------

    def test_replies_due_cross_reloads(self):
        # Every reply comes 200 ms late, so each reload finds replies
        # due to the old workers' sessions.
        up = self.upstream(delay=0.2)
        d = self.start(upstream_block("e", [up.addr]) +
                       proxy_server("p", ["127.0.0.1:0"], "e"))
        (host, port), = d.ports()["p"]
        self.wait_relays(host, port)
        probes_in = self.counters(d).get("datagrams_in")
        probes_out = self.counters(d).get("datagrams_out")
        flow = Flow((host, port), rate=200, duration=4 * TIMEOUT,
                    sockets=8, drain=TIMEOUT)
        result = {}
        t = threading.Thread(target=lambda: result.update(flow.run()),
                             daemon=True)
        t.start()
        try:
            wait_for(lambda: flow.received > 50, what="replies to flow")
            # Each reload waits for the old workers to be gone: their
            # sessions relayed what was due, then closed. Two plain
            # reloads, then worker counts 2 -> 1 -> 3 -> 2 (sockets of
            # retired slots are read by other workers, and answered
            # from).
            for n in (2, 2, 1, 3, 2):
                old = d.workers()
                d.write_conf(workers=n)
                d.signal(signal.SIGHUP)
                d.wait_workers(n, exclude=old)
            wait_for(lambda: reloads_settled(d.log()),
                     what="the reloads to be done")
            mark = flow.received
            wait_for(lambda: flow.received > mark + 50,
                     what="replies after the last reload")
        finally:
            flow.stop()
            t.join(TIMEOUT * 2)
            flow.close()
        self.assertFalse(t.is_alive(), "the sender did not finish")
        r = result
        self.assertGreater(r["sent"], 0)
        self.assertEqual(r["send_errors"], 0, r)
        self.assertEqual(r["missing"], 0,
                         "%d of %d datagrams never came back; first "
                         "missing %s at %s s" % (
                             r["missing"], r["sent"], r["first_missing"],
                             r["first_missing_at"]))
        self.assertEqual(r["duplicates"], 0, r)

        def counted():
            c = self.counters(d)
            return (c.get("datagrams_in") == probes_in + r["sent"] and
                    c.get("datagrams_out") == probes_out + r["received"]
                    ) and c
        c = wait_for(counted, timeout=TIMEOUT / 3,
                     what="/status to count every datagram (%r)"
                     % self.counters(d))
        for k in ("dropped_full", "dropped_upstream", "dropped_session"):
            self.assertEqual(c.get(k, 0), 0, "%s: %r" % (k, c))


if __name__ == "__main__":
    main()
