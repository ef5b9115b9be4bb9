"""UDP servers (protocol = udp_echo): each datagram comes back from the
address it was sent to, over IPv4, IPv6 and a wildcard address; port 0
is written to the ports file; a TCP and a UDP server share a port number;
no datagram is lost across reloads, worker-count changes and binary
upgrades; /status counts exactly the datagrams that came and went."""

import json
import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, echo_roundtrip,  # noqa
                       free_port, ipv6_loopback_available, main, run,
                       wait_for)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "contrib", "bench", "udp"))
from sender import Flow  # noqa: E402

STATUS_SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/status" { stats = json }
}
"""


def udp_server(name, listen):
    return """
server %s {
    listen = {%s}
    protocol = udp_echo
}
""" % (name, ", ".join('"%s"' % a for a in listen))


def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_roundtrip(host, port, payload, timeout=2.0):
    """payload to host:port from an unconnected socket; (reply, source)
    of the first datagram back, or (None, None) when none came."""
    with socket.socket(fam(host), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            data, src = s.recvfrom(65536)
        except socket.timeout:
            return None, None
        return data, src[:2]


def echoes(host, port, payload=b"ready?"):
    """A datagram comes back the same (one try; datagrams can be lost
    while nothing is bound yet, so callers poll this)."""
    return udp_roundtrip(host, port, payload, timeout=0.5)[0] == payload


def http_status(port):
    """The /status JSON document."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0] + b" ":
        raise AssertionError("/status: %r" % head[:200])
    return json.loads(body)


def server_counters(doc, name):
    """The server's counters in /status: its "servers" entry."""
    servers = doc.get("servers")
    if not isinstance(servers, dict) or name not in servers:
        raise AssertionError("/status has no server %r: %r"
                             % (name, sorted(doc)))
    return servers[name]


def reloads_settled(log):
    """Every reload begun is done (HUPs that come while a generation
    starts are folded into one more reload, logged as "still starting")."""
    reads = log.count("reload: reading")
    done = log.count("reload done:") + log.count("reload failed:")
    return (done and reads == done and
            log.rfind("is still starting") < log.rfind("reload: reading"))


class UdpTest(DroverTest):

    def start(self, servers, workers=2):
        d = self.drover(workers=workers, servers=servers)
        d.start()
        d.wait_workers(workers)
        return d

    # -- addresses -----------------------------------------------------

    def test_echo_ipv4_ipv6_and_wildcard(self):
        v6 = ipv6_loopback_available()
        listen = ["127.0.0.1:0", "0.0.0.0:0"] + (["[::1]:0"] if v6 else [])
        d = self.start(udp_server("u", listen))
        addrs = d.ports()["u"]
        self.assertEqual([h for h, _ in addrs],
                         ["127.0.0.1", "0.0.0.0"] + (["::1"] if v6 else []))
        for host, port in addrs:
            self.assertNotEqual(port, 0)
        (lo, lo_port), (_, any_port) = addrs[0], addrs[1]
        wait_for(lambda: echoes("127.0.0.1", lo_port), what="udp echo")
        payload = bytes(range(256)) * 4 + b"\0end"
        data, src = udp_roundtrip("127.0.0.1", lo_port, payload)
        self.assertEqual(data, payload)
        self.assertEqual(src, ("127.0.0.1", lo_port))
        # An empty datagram is a datagram too.
        self.assertEqual(udp_roundtrip("127.0.0.1", lo_port, b"")[0], b"")
        # The wildcard socket answers from the address each datagram was
        # sent to (IP_PKTINFO), not from the address routing would pick.
        for dst in ("127.0.0.1", "127.0.0.2"):
            data, src = udp_roundtrip(dst, any_port, b"to " + dst.encode())
            self.assertEqual(data, b"to " + dst.encode())
            self.assertEqual(src, (dst, any_port),
                             "reply to %s came from %s" % (dst, src))
        if v6:
            host, port = addrs[2]
            data, src = udp_roundtrip("::1", port, b"six")
            self.assertEqual(data, b"six")
            self.assertEqual(src, ("::1", port))
        else:
            print("(::1 unavailable: IPv6 part skipped)", file=sys.stderr)

    def test_wildcard_ipv6(self):
        if not ipv6_loopback_available():
            self.skipTest("::1 unavailable")
        d = self.start(udp_server("u", ["[::]:0"]))
        (host, port), = d.ports()["u"]
        self.assertEqual(host, "::")
        wait_for(lambda: echoes("::1", port), what="udp echo on [::]")
        data, src = udp_roundtrip("::1", port, b"any six")
        self.assertEqual((data, src), (b"any six", ("::1", port)))

    def test_port0_is_kept_across_reload(self):
        d = self.start(udp_server("u", ["127.0.0.1:0"]))
        (host, port), = d.ports()["u"]
        self.assertEqual(host, "127.0.0.1")
        self.assertNotEqual(port, 0)
        old = d.workers()
        run([DROVER, "-c", d.conf, "-s", "reload"]).check_returncode()
        d.wait_workers(2, exclude=old)
        self.assertEqual(d.ports()["u"], [(host, port)])
        wait_for(lambda: echoes(host, port), what="udp echo after reload")

    def test_tcp_and_udp_share_a_port(self):
        for _ in range(20):
            port = free_port()
            try:        # free for UDP as well
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
        addr = "127.0.0.1:%d" % port
        servers = (udp_server("u", [addr]) +
                   'server t {\n    listen = {"%s"}\n    protocol = echo\n}\n'
                   % addr)
        d = self.start(servers)
        self.assertEqual(d.ports(), {"u": [("127.0.0.1", port)],
                                     "t": [("127.0.0.1", port)]})
        wait_for(lambda: echoes("127.0.0.1", port), what="udp echo")
        self.assertEqual(echo_roundtrip("127.0.0.1", port, b"over tcp"),
                         b"over tcp")
        self.assertEqual(udp_roundtrip("127.0.0.1", port, b"over udp")[0],
                         b"over udp")
        # Two UDP servers on one address stay an error.
        bad = d.conf_text(servers=servers + udp_server("u2", [addr]))
        d.write_conf(bad)
        r = run([DROVER, "-t", "-c", d.conf])
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(addr, r.stderr)

    # -- reloads -------------------------------------------------------

    def test_no_loss_across_reloads_and_counters(self):
        d = self.start(udp_server("u", ["127.0.0.1:0"]) + STATUS_SERVER)
        (host, port), = d.ports()["u"]
        _, http_port = d.port("web")
        probes = 0

        def probe():
            nonlocal probes
            probes += 1
            return echoes(host, port)
        wait_for(probe, what="udp echo")

        # 2,000 datagrams/s from 8 sockets for as long as the events take
        # (bounded), read back in a thread of their own.
        flow = Flow((host, port), rate=2000, duration=4 * TIMEOUT,
                    sockets=8, drain=TIMEOUT)
        result = {}
        t = threading.Thread(target=lambda: result.update(flow.run()),
                             daemon=True)
        t.start()
        try:
            wait_for(lambda: flow.received > 100, what="echoes to flow")
            # 8 HUPs 0.25 s apart (not waiting for each).
            for _ in range(8):
                d.signal(signal.SIGHUP)
                time.sleep(0.25)
            wait_for(lambda: reloads_settled(d.log()),
                     what="the HUPs' reloads to be done")
            # Worker counts 2 -> 1 -> 3 -> 2, each serving before the next.
            for n in (1, 3, 2):
                old = d.workers()
                d.write_conf(workers=n)
                d.signal(signal.SIGHUP)
                d.wait_workers(n, exclude=old)
            # Two binary upgrades, each handed over before the next.
            for i in (1, 2):
                os.kill(d.read_pid(), signal.SIGUSR2)
                wait_for(lambda: d.upgraded(i),
                         what="binary upgrade %d to hand over" % i)
                d.master = d.read_pid()
                d.started_pids.add(d.master)
            # A little more traffic on the last generation, then stop.
            mark = flow.received
            wait_for(lambda: flow.received > mark + 200,
                     what="echoes after the last upgrade")
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
        self.assertEqual(r["received"], r["sent"], r)
        self.assertEqual(r["refused"], 0, r)

        # Every datagram the test sent (probes and flow) was counted in,
        # every echo out, and none dropped; once the flow is drained the
        # counters are final, whichever generation took each datagram.
        want_in = probes + r["sent"]
        want_out = probes + r["received"]

        def counted():
            c = server_counters(http_status(http_port), "u")
            return (c.get("datagrams_in") == want_in and
                    c.get("datagrams_out") == want_out) and c
        try:
            c = wait_for(counted, timeout=TIMEOUT / 3,
                         what="/status to count %d in, %d out"
                         % (want_in, want_out))
        except AssertionError:
            c = server_counters(http_status(http_port), "u")
            self.fail("/status counts %s in, %s out; the test sent %d "
                      "(%d probes) and got %d back: %r"
                      % (c.get("datagrams_in"), c.get("datagrams_out"),
                         want_in, probes, want_out, c))
        for k in ("dropped_full", "dropped_upstream", "dropped_session"):
            self.assertEqual(c.get(k, 0), 0, "%s: %r" % (k, c))


if __name__ == "__main__":
    main()
