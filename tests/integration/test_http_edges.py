"""Requests at the input buffer's edges, and bodies that take their time:
pipelined requests whose heads end at every buffer edge, with bodies of
each framing, answered whole and cheaply; uploads slower than
header_timeout that keep arriving are served (body_timeout counts between
reads), and a body that stalls gets 408."""

import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import DroverTest, main  # noqa: E402
from httplib_raw import Conn, get  # noqa: E402

# Default max_header_size (16384): the input buffer starts at 4096 bytes
# and grows to max_header_size + 4096 = 20480.
SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    header_timeout = %(header)d
    body_timeout = %(body)d
    max_body_size = 16777216
    location "/echo" { echo_body = on }
    location "/hello" { return = "200 Hello, World!" }
}
"""

EDGES = (4095, 4096, 4097, 8192, 20479, 20480, 20481)


def padded_head(first_line, total, extra=""):
    """A request head of exactly total bytes (a padding header)."""
    base = "%s\r\nHost: t\r\n%sX-Pad: \r\n\r\n" % (first_line, extra)
    pad = total - len(base)
    assert pad >= 0, (total, len(base))
    return ("%s\r\nHost: t\r\n%sX-Pad: %s\r\n\r\n"
            % (first_line, extra, "p" * pad)).encode()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class EdgesTest(DroverTest):

    def start(self, header=10, body=60):
        d = self.drover(workers=1, servers=SERVER % {"header": header,
                                                     "body": body})
        d.start()
        self.d = d
        self.addr = d.port("web")
        return d

    def exchange(self, raw, expect):
        """Send raw in one write; read len(expect) responses; compare
        their bodies."""
        c = Conn(self.addr[0], self.addr[1], timeout=30)
        try:
            sender = threading.Thread(target=c.send, args=(raw,))
            sender.start()
            got = [c.read_response().body for _ in expect]
            sender.join(30)
            return got
        finally:
            c.close()

    def test_pipelined_head_ending_at_every_edge(self):
        """A (a 16,000-byte head) then B with a body whose head ends at
        each buffer edge: both answered, B's body whole."""
        self.start()
        body = os.urandom(1 << 20)
        a = padded_head("GET /hello HTTP/1.1", 16000)
        for edge in EDGES:
            for shift in (0, 1, 2):
                end = edge + shift
                if end - len(a) < 80:
                    continue
                b = padded_head("POST /echo HTTP/1.1", end - len(a),
                                "Content-Length: %d\r\n" % len(body))
                got = self.exchange(a + b + body + get("/hello"),
                                    [1, 2, 3])
                self.assertEqual(got[0], b"Hello, World!", end)
                self.assertTrue(got[1] == body, "body at edge %d" % end)
                self.assertEqual(got[2], b"Hello, World!", end)

    def test_head_alone_ending_at_every_edge(self):
        """A single request whose head ends at an edge, body after it in
        the same write, and a discarded body (405) too."""
        self.start()
        body = os.urandom(70000)
        for end in (4094, 4095, 4096, 4097, 16383, 16384):
            b = padded_head("POST /echo HTTP/1.1", end,
                            "Content-Length: %d\r\n" % len(body))
            h = padded_head("POST /hello HTTP/1.1", end,
                            "Content-Length: %d\r\n" % len(body))
            got = self.exchange(b + body + h + body + get("/hello"),
                                [1, 2, 3])
            self.assertTrue(got[0] == body, "echo at edge %d" % end)
            self.assertIn(b"405", got[1])
            self.assertEqual(got[2], b"Hello, World!")

    def test_chunked_body_after_an_edge(self):
        self.start()
        pieces = [os.urandom(n) for n in (4000, 1, 16384, 9000)]
        chunked = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces)
        chunked += b"0\r\n\r\n"
        a = padded_head("GET /hello HTTP/1.1", 16000)
        for end in (20478, 20479, 20480, 20481):
            b = padded_head("POST /hello HTTP/1.1", end - len(a),
                            "Transfer-Encoding: chunked\r\n")
            got = self.exchange(a + b + chunked + get("/hello"), [1, 2, 3])
            self.assertEqual(got[0], b"Hello, World!")
            self.assertIn(b"405", got[1])
            self.assertEqual(got[2], b"Hello, World!")

    def test_body_behind_a_big_head_is_read_in_large_pieces(self):
        """The CPU a 4 MiB body costs the worker after a head that nearly
        fills the buffer: reading it a byte per recv() costs seconds,
        reading it properly a few milliseconds. The bound is CPU time,
        not wall-clock time, and generous."""
        d = self.start()
        worker = d.workers()[0]
        body = b"y" * (4 << 20)
        a = padded_head("GET /hello HTTP/1.1", 16000)
        b = padded_head("POST /hello HTTP/1.1", 20479 - len(a),
                        "Content-Length: %d\r\n" % len(body))
        before = cpu_seconds(worker)
        got = self.exchange(a + b + body + get("/hello"), [1, 2, 3])
        spent = cpu_seconds(worker) - before
        self.assertEqual(got[2], b"Hello, World!")
        self.assertLess(spent, 1.0, "the worker spent %.2f CPU s on a "
                        "4 MiB body" % spent)

    def test_chunked_echo_refused_before_it_starts(self):
        """A chunked body too large (413) or malformed (400) from its
        first line: the error, not a 200 that breaks off."""
        self.start()
        for first, status in ((b"2000000\r\n", 413), (b"zz\r\n", 400)):
            c = Conn(self.addr[0], self.addr[1], timeout=30)
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                   b"chunked\r\n\r\n" + first)
            r = c.read_response()
            self.assertEqual(r.status, status)
            self.assertTrue(c.closed_by_server())
            c.close()

    def test_method_comes_before_path_and_location(self):
        """405 for other methods than GET and HEAD wherever the handler
        does not take them, before a bad path or a missing location."""
        self.start()
        for raw in (b"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 0"
                    b"\r\n\r\n", b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
                    b"DELETE /%zz HTTP/1.1\r\nHost: t\r\n\r\n",
                    b"PUT /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1"
                    b"\r\n\r\nx"):
            c = Conn(self.addr[0], self.addr[1], timeout=30)
            c.send(raw + get("/hello"))
            r = c.read_response()
            self.assertEqual((r.status, r.header("allow")),
                             (405, "GET, HEAD"), raw)
            self.assertEqual(c.read_response().body, b"Hello, World!")
            c.close()
        c = Conn(self.addr[0], self.addr[1], timeout=30)
        c.send(b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
               b"\r\nok")
        self.assertEqual(c.read_response().body, b"ok")
        c.close()

    # -- body_timeout -----------------------------------------------------

    def slow_upload(self, path, pieces, gap):
        """Upload pieces with a pause between them; return the response."""
        c = Conn(self.addr[0], self.addr[1], timeout=30)
        try:
            total = sum(len(p) for p in pieces)
            c.send(("POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                    "\r\n" % (path, total)).encode())
            for p in pieces:
                time.sleep(gap)     # pacing the client, not a wait
                c.send(p)
            return c.read_response()
        finally:
            c.close()

    def test_slow_upload_longer_than_header_timeout(self):
        """header_timeout = 1, body_timeout = 10: a body whose pieces come
        further apart than header_timeout is served, discarded (405) and
        streamed (echo)."""
        self.start(header=1, body=10)
        pieces = [b"%d" % i * 1000 for i in range(3)]
        r = self.slow_upload("/hello", pieces, 1.5)
        self.assertEqual(r.status, 405)
        r = self.slow_upload("/echo", pieces, 1.5)
        self.assertEqual((r.status, r.body), (200, b"".join(pieces)))

    def test_stalled_body_gets_408(self):
        self.start(header=10, body=1)
        c = Conn(self.addr[0], self.addr[1], timeout=30)
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
               b"\r\n" + b"x" * 10)
        r = c.read_response()
        self.assertEqual(r.status, 408)
        self.assertTrue(c.closed_by_server())
        c.close()


if __name__ == "__main__":
    main()
