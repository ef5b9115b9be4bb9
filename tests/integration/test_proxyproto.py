"""proxy_protocol = on: a PROXY v1 or v2 header read before the service
sees the connection. The address it carries is the client's in the access
log; the bytes after it reach the service untouched (HTTP and echo); a
header split over several sends is put together; a malformed, missing or
late header closes the connection and is counted (proxy_header_errors);
a connection whose header is on its way when a reload drains the worker
is still served."""

import json
import os
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DroverTest, free_port, main,  # noqa: E402
                       server_queues, wait_for)
from httplib_raw import Conn, get, request  # noqa: E402

SERVERS = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    proxy_protocol = on
    access_log = "%(dir)s/access.log"
    location "/" { return = "200 proxied" }
}
server slow {
    listen = {"127.0.0.1:%(slow)d"}
    protocol = http
    proxy_protocol = on
    header_timeout = 1
    location "/" { return = "200 slow" }
}
server status {
    listen = {"127.0.0.1:%(status)d"}
    protocol = http
    location "/status" { stats = json }
}
server echo {
    listen = {"127.0.0.1:%(echo)d"}
    protocol = echo
    proxy_protocol = on
}
"""

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="127.0.0.1", sport=40000, dport=80):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n"
            % (fam, src, dst, sport, dport)).encode()


def v2(src, dst, sport=40000, dport=80, tlvs=b""):
    """A v2 PROXY command over TCP, with optional TLVs after the
    addresses."""
    if ":" in src:
        fam, af = 0x21, socket.AF_INET6
    else:
        fam, af = 0x11, socket.AF_INET
    body = (socket.inet_pton(af, src) + socket.inet_pton(af, dst) +
            struct.pack("!HH", sport, dport) + tlvs)
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def v2_local():
    return V2_SIG + bytes([0x20, 0x00, 0x00, 0x00])


def closed_without_answer(sock):
    """Read until the server closes; what it sent (expected: nothing)."""
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
    except ConnectionResetError:
        return got


class ProxyProtocolTest(DroverTest):

    def setUp(self):
        super().setUp()
        self.d = self.drover(workers=2, servers="")
        self.d.write_conf(servers=SERVERS % {
            "dir": self.d.dir, "slow": free_port(), "status": free_port(),
            "echo": free_port()})
        self.d.start()
        self.log = os.path.join(self.d.dir, "access.log")

    def addr(self, server):
        return self.d.port(server)

    def connect(self, server):
        s = socket.create_connection(self.addr(server), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def errors(self, server):
        host, port = self.addr("status")
        r = request(host, port, get("/status",
                                    extra="Connection: close\r\n"))
        self.assertEqual(r.status, 200)
        servers = json.loads(r.body)["servers"]
        return servers.get(server, {}).get("proxy_header_errors", 0)

    def access_lines(self, marker, n=1):
        """The access log's lines for requests whose path has marker."""
        def lines():
            if not os.path.exists(self.log):
                return None
            with open(self.log) as f:
                got = [ln for ln in f.read().splitlines() if marker in ln]
            return got if len(got) >= n else None
        return wait_for(lines, what="%d access log lines with %s"
                        % (n, marker))

    def proxied_get(self, header, path):
        host, port = self.addr("web")
        r = request(host, port, header + get(path,
                                             extra="Connection: close\r\n"))
        self.assertEqual((r.status, r.body), (200, b"proxied"))

    # -- the carried address ----------------------------------------------

    def test_carried_address_is_the_client(self):
        cases = [
            (v1("192.0.2.10"), "192.0.2.10"),
            (v1("2001:db8::10", "::1"), "2001:db8::10"),
            (v2("198.51.100.7", "127.0.0.1"), "198.51.100.7"),
            (v2("2001:db8::7", "::1"), "2001:db8::7"),
            # ALPN "h2" and a NOOP after the addresses: skipped.
            (v2("203.0.113.5", "127.0.0.1",
                tlvs=b"\x01\x00\x02h2\x04\x00\x01\x00"), "203.0.113.5"),
            # Nothing carried: the connection's own address stands.
            (b"PROXY UNKNOWN\r\n", "127.0.0.1"),
            (v2_local(), "127.0.0.1"),
        ]
        for i, (header, _) in enumerate(cases):
            self.proxied_get(header, "/carried?case=%d" % i)
        for i, (_, client) in enumerate(cases):
            line = self.access_lines("/carried?case=%d " % i)[0]
            self.assertEqual(line.split(" ", 1)[0], client, line)
        self.assertEqual(self.errors("web"), 0)

    def test_header_split_over_sends(self):
        """Each piece is taken by the worker before the next is sent (its
        receive queue empties: the bytes are the header's); the request
        after the last piece is answered."""
        host, port = self.addr("web")
        for n, header in enumerate((v1("192.0.2.77"),
                                    v2("2001:db8::77", "::1"))):
            c = Conn(host, port)
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            cuts = [0, 1, 5, 11, 13, 16, len(header) - 1, len(header)]
            for a, b in zip(cuts, cuts[1:]):
                c.send(header[a:b])
                wait_for(lambda: server_queues(port, c.sock)[0] == 0,
                         what="the worker to take %d header bytes" % b)
            self.assertNotEqual(server_queues(port, c.sock), (-1, -1),
                                "a partial header closed the connection")
            c.send(get("/split?n=%d" % n, extra="Connection: close\r\n"))
            r = c.read_response()
            c.close()
            self.assertEqual((r.status, r.body), (200, b"proxied"))
        self.assertEqual(
            self.access_lines("/split?n=0 ")[0].split(" ", 1)[0],
            "192.0.2.77")
        self.assertEqual(
            self.access_lines("/split?n=1 ")[0].split(" ", 1)[0],
            "2001:db8::77")

    # -- refused headers ----------------------------------------------------

    def test_malformed_and_missing_are_closed_and_counted(self):
        before = self.errors("web")
        bad = [
            # A leading zero in a port, which v1 forbids.
            b"PROXY TCP4 192.0.2.1 127.0.0.1 040000 80\r\n",
            # v2 with version 1 in the high nibble.
            V2_SIG + b"\x11\x11\x00\x0c" + b"\x00" * 12,
            # No header at all: a plain request.
            b"",
        ]
        for header in bad:
            s = self.connect("web")
            s.sendall(header + get("/refused",
                                   extra="Connection: close\r\n"))
            self.assertEqual(closed_without_answer(s), b"")
            s.close()
        wait_for(lambda: self.errors("web") == before + len(bad),
                 what="proxy_header_errors to count %d" % len(bad))
        log = self.d.log()
        self.assertRegex(log, r"server web: connection from 127\.0\.0\.1:\d+"
                         r" closed: PROXY header: v1: bad source")
        self.assertIn("PROXY header: v2: version is not 2", log)
        self.assertIn("PROXY header: not a PROXY header", log)
        # None of them reached the service.
        if os.path.exists(self.log):
            with open(self.log) as f:
                self.assertNotIn("/refused", f.read())

    def test_late_header_times_out(self):
        """header_timeout = 1: a header that stops half way, and one that
        never starts, are closed by the worker (we wait for the close)."""
        before = self.errors("slow")
        half = self.connect("slow")
        half.sendall(b"PROXY TCP4 192.0.2.1 ")
        silent = self.connect("slow")
        self.assertEqual(closed_without_answer(half), b"")
        self.assertEqual(closed_without_answer(silent), b"")
        half.close()
        silent.close()
        wait_for(lambda: self.errors("slow") == before + 2,
                 what="two timeouts counted")
        self.assertIn("server slow: connection from 127.0.0.1", self.d.log())
        self.assertIn("PROXY header: timed out", self.d.log())

    def test_eof_before_the_header_is_counted(self):
        before = self.errors("web")
        s = self.connect("web")
        s.sendall(b"PROXY TCP4 1.2")
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(closed_without_answer(s), b"")
        s.close()
        wait_for(lambda: self.errors("web") == before + 1,
                 what="the cut-short header counted")
        self.assertIn("PROXY header: closed before the header",
                      self.d.log())

    # -- other services --------------------------------------------------

    def test_echo_gets_every_byte_after_the_header(self):
        # What follows looks like a header too: it is the client's data.
        payload = (v1("192.0.2.9") + V2_SIG + bytes(range(256)) * 64)
        for header in (v1("192.0.2.8"), v2("2001:db8::8", "::1")):
            s = self.connect("echo")
            s.sendall(header + payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(65536)
                self.assertTrue(chunk, "echo closed after %d bytes"
                                % len(got))
                got += chunk
            self.assertEqual(got, payload)
            s.close()
        self.assertEqual(self.errors("echo"), 0)

    # -- drain -------------------------------------------------------------

    def test_header_on_its_way_across_a_reload(self):
        """A reload drains the worker while a header is half sent: the
        connection is the old worker's to finish, and it is served."""
        host, port = self.addr("web")
        old = set(self.d.workers())
        c = Conn(host, port)
        header = v1("192.0.2.55")
        c.send(header[:9])
        wait_for(lambda: server_queues(port, c.sock)[0] == 0,
                 what="the worker to take the first bytes")
        self.d.signal(signal.SIGHUP)
        self.d.wait_log(r"draining \(told by the master\)")
        c.send(header[9:] + get("/drained", extra="Connection: close\r\n"))
        r = c.read_response()
        c.close()
        self.assertEqual((r.status, r.body), (200, b"proxied"))
        self.assertEqual(
            self.access_lines("/drained ")[0].split(" ", 1)[0],
            "192.0.2.55")
        # The old workers end once it is served.
        wait_for(lambda: not old & set(self.d.workers()),
                 what="the old workers to exit")


if __name__ == "__main__":
    main()
