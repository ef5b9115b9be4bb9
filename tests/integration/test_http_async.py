"""Handlers that wait and request bodies as a stream, against the real
daemon with raw sockets: echo_body (the body streamed back, Content-Length
and chunked), delay (a request pending on a timer), backpressure and
bounded memory, clients that go away, pipelining behind a pending request,
and a pending request across a reload and a graceful stop."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import DroverTest, main, wait_for  # noqa: E402
from httplib_raw import Conn, get  # noqa: E402

SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    header_timeout = 60
    body_timeout = 3
    max_body_size = 1099511627776
    location "/echo" { echo_body = on }
    location "/hello" { return = "200 Hello, World!" }
    location "/delay" { delay = %(delay)s  return = "200 late" }
    location "/decho" { delay = %(delay)s  echo_body = on }
    location "/status" { stats = json }
}
"""

SANITIZED = "ASAN_OPTIONS" in os.environ


def post(path, body, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n"
            % (path, len(body), extra)).encode() + body


def chunked(path, pieces, extra=""):
    out = ("POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
           "%s\r\n" % (path, extra)).encode()
    for p in pieces:
        out += b"%x;ext=1\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\nX-Trailer: 1\r\n\r\n"


def read_chunked(c):
    """The decoded body of a chunked response on Conn c (head read)."""
    body = b""
    while True:
        while b"\r\n" not in c.buf:
            c._fill()
        line, c.buf = c.buf.split(b"\r\n", 1)
        size = int(line.split(b";")[0], 16)
        while len(c.buf) < size + 2:
            c._fill()
        body += c.buf[:size]
        assert c.buf[size:size + 2] == b"\r\n", c.buf[size:size + 8]
        c.buf = c.buf[size + 2:]
        if size == 0:
            return body


def server_send_full(port, client):
    """The send buffer of drover's end of client's connection is full
    (ss: skmem w >= tb), so drover's writes wait for the client."""
    out = subprocess.run(
        ["ss", "-tnmH", "state", "established",
         "( sport = :%d and dport = :%d )" % (port,
                                              client.getsockname()[1])],
        capture_output=True, text=True, check=True).stdout
    m = re.search(r"tb(\d+),.*?w(\d+),", out)
    return m is not None and int(m.group(2)) >= int(m.group(1))


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %d" % (field, pid))


class AsyncHTTPTest(DroverTest):

    def start(self, delay="1", log_level="info", workers=1):
        d = self.drover(workers=workers, servers=SERVER % {"delay": delay},
                        log_level=log_level)
        d.start()
        self.d = d
        self.addr = d.port("web")
        return d

    def conn(self, timeout=30):
        return Conn(self.addr[0], self.addr[1], timeout=timeout)

    def active(self):
        """Open connections of the live workers, from /status."""
        import json
        c = self.conn()
        try:
            c.send(get("/status", extra="Connection: close\r\n"))
            r = c.read_response()
        finally:
            c.close()
        return json.loads(r.body)["total"]["active"] - 1

    # -- echo_body ---------------------------------------------------------

    def test_echo_content_length(self):
        self.start()
        c = self.conn()
        body = os.urandom(100000)
        c.send(post("/echo", body))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), str(len(body)))
        self.assertEqual(r.body, body)
        # The connection stays usable: the next request on it.
        c.send(get("/hello"))
        self.assertEqual(c.read_response().body, b"Hello, World!")
        c.close()

    def test_echo_chunked_in_pieces(self):
        self.start()
        c = self.conn()
        pieces = [os.urandom(n) for n in (1, 7, 4096, 70000, 3)]
        raw = chunked("/echo", pieces)
        # Sent a few bytes at a time at first: framing split anywhere.
        for i in range(0, 200, 7):
            c.send(raw[i:min(i + 7, 200)])
        c.send(raw[200:])
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("transfer-encoding"), "chunked")
        self.assertIsNone(r.header("content-length"))
        self.assertEqual(read_chunked(c), b"".join(pieces))
        c.send(get("/hello"))
        self.assertEqual(c.read_response().body, b"Hello, World!")
        c.close()

    def test_many_chunks_with_extensions(self):
        """Extensions count per chunk line, not over the whole body."""
        self.start()
        c = self.conn()
        pieces = [os.urandom(50) for _ in range(2000)]
        c.send(chunked("/echo", pieces))
        c.read_response()
        self.assertEqual(read_chunked(c), b"".join(pieces))
        c.close()

    def test_echo_without_body(self):
        self.start()
        c = self.conn()
        c.send(get("/echo"))
        r = c.read_response()
        self.assertEqual((r.status, r.header("content-length"), r.body),
                         (200, "0", b""))
        c.close()

    def test_pipelined_after_streamed_body(self):
        self.start()
        c = self.conn()
        a, b = os.urandom(30000), os.urandom(5000)
        c.send(post("/echo", a) + chunked("/echo", [b]) + get("/hello") +
               post("/echo", b"x"))
        self.assertEqual(c.read_response().body, a)
        c.read_response()
        self.assertEqual(read_chunked(c), b)
        self.assertEqual(c.read_response().body, b"Hello, World!")
        self.assertEqual(c.read_response().body, b"x")
        c.close()

    def test_bad_chunk_after_the_response_began(self):
        d = self.start(log_level="debug")
        c = self.conn()
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
               b"chunked\r\n\r\n5\r\nhello\r\nZZ\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)     # the head went out at once
        self.assertTrue(c.closed_by_server())
        self.assertIn(b"5\r\nhello\r\n", c.buf)
        self.assertNotIn(b"0\r\n\r\n", c.buf)   # no clean end: truncated
        c.close()
        d.wait_log(r"echo_body request cancelled: bad request body")
        self.assertEqual(self.conn_get_hello(), b"Hello, World!")

    def conn_get_hello(self):
        c = self.conn()
        try:
            c.send(get("/hello"))
            return c.read_response().body
        finally:
            c.close()

    def test_one_gib_streamed_with_bounded_rss(self):
        """1 GiB through echo_body: the worker's memory stays bounded, and
        a stream that keeps moving outlives body_timeout (3 s) however
        long it takes."""
        d = self.start()
        worker = d.workers()[0]
        base = vm_kib(worker, "VmRSS")
        total = 1 << 30
        pattern = os.urandom(1 << 20)
        s = socket.create_connection(self.addr, timeout=60)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d"
                  b"\r\n\r\n" % total)
        errors = []

        def sender():
            try:
                for _ in range(total // len(pattern)):
                    s.sendall(pattern)
            except OSError as e:
                errors.append(e)
        t = threading.Thread(target=sender)
        t.start()
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            self.assertTrue(chunk, "closed before the response head")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.assertIn(b"Content-Length: %d" % total, head)
        got, mism = 0, 0
        view = memoryview(pattern + pattern)
        data = rest
        while True:
            if data:
                off = got % len(pattern)
                if bytes(view[off:off + len(data)]) != data:
                    mism += 1
                got += len(data)
            if got >= total:
                break
            data = s.recv(1 << 20)
            self.assertTrue(data, "closed after %d of %d bytes"
                            % (got, total))
        t.join(60)
        s.close()
        self.assertEqual(errors, [])
        self.assertEqual((got, mism), (total, 0))
        hwm = vm_kib(worker, "VmHWM")
        if SANITIZED:   # ASan's own memory: bound the growth instead
            self.assertLess(hwm - base, 16 * 1024,
                            "worker RSS grew from %d to %d KiB" % (base, hwm))
        else:
            self.assertLess(hwm, 16 * 1024, "worker peak RSS %d KiB" % hwm)

    def test_backpressure_client_that_does_not_read(self):
        """A client that sends but never reads is stopped: the worker
        takes a bounded amount, then reads nothing more from it."""
        d = self.start()
        worker = d.workers()[0]
        s = socket.create_connection(self.addr, timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        total = 256 << 20
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d"
                  b"\r\n\r\n" % total)
        s.setblocking(False)
        piece = b"b" * 65536
        sent = 0
        stalled = 0
        # Send until the kernel refuses for a while (both sides' buffers
        # full and drover not reading); bounded by total.
        while sent < total and stalled < 50:
            try:
                sent += s.send(piece)
                stalled = 0
            except BlockingIOError:
                stalled += 1
                time.sleep(0.02)
        self.assertLess(sent, 64 << 20,
                        "drover kept reading from a client that reads "
                        "nothing (%d bytes taken)" % sent)
        self.assertLess(vm_kib(worker, "VmHWM") - vm_kib(worker, "VmRSS")
                        if SANITIZED else vm_kib(worker, "VmHWM"),
                        16 * 1024)
        # Another client is served meanwhile.
        self.assertEqual(self.conn_get_hello(), b"Hello, World!")
        s.close()

    def test_client_disconnects_mid_body(self):
        d = self.start(log_level="debug")
        for i in range(5):
            c = self.conn()
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
                   b"1000000\r\n\r\n" + b"z" * 100000)
            while b"\r\n\r\n" not in c.buf:   # the head: the handler
                c._fill()                       # has the request
            c.close()
        wait_for(lambda: len(re.findall(
            r"echo_body request cancelled: client (closed mid-request|reset)",
            d.log())) == 5, timeout=30,
            what="5 cancellations in the log")
        wait_for(lambda: self.active() == 0, timeout=30,
                 what="the connections to close")
        self.assertEqual(len(re.findall(r"request cancelled", d.log())), 5)

    # -- delay: requests that wait --------------------------------------------

    def test_delay_answers_later(self):
        d = self.start(delay="0.3", log_level="debug")
        c = self.conn()
        c.send(get("/delay"))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"late"))
        c.close()
        # A request that waits is not cancelled when it is answered.
        self.assertNotIn("cancelled", d.log())

    def test_pipelined_behind_pending_in_order(self):
        self.start(delay="0.5")
        c = self.conn()
        c.send(get("/delay") + get("/hello") + post("/echo", b"abc") +
               get("/delay") + get("/hello"))
        bodies = [c.read_response().body for _ in range(5)]
        self.assertEqual(bodies, [b"late", b"Hello, World!", b"abc",
                                  b"late", b"Hello, World!"])
        c.close()

    def test_delayed_echo_holds_the_body_back(self):
        self.start(delay="0.5")
        c = self.conn()
        body = os.urandom(300000)
        c.send(post("/decho", body))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, body))
        c.close()

    def test_client_gone_while_pending(self):
        """The handler is told once; its timer is freed (ASan)."""
        d = self.start(delay="30", log_level="debug")
        conns = []
        for i in range(3):
            c = self.conn()
            c.send(get("/delay"))
            conns.append(c)
        wait_for(lambda: self.active() == 3, timeout=30,
                 what="3 pending requests")
        for c in conns:
            c.close()
        wait_for(lambda: len(re.findall(
            r"delay request cancelled: client closed", d.log())) == 3,
            timeout=30, what="3 cancellations")
        wait_for(lambda: self.active() == 0, timeout=30,
                 what="the connections to close")
        self.assertEqual(len(re.findall(r"request cancelled", d.log())), 3)

    def test_abandoned_request_is_logged(self):
        """A pending request whose client leaves has its access log line:
        499 when no response began."""
        d = self.drover(workers=1, servers="")
        log = os.path.join(d.dir, "access.log")
        d.params["servers"] = SERVER.replace(
            "    protocol = http\n",
            '    protocol = http\n    access_log = "%s"\n' % log) % {
                "delay": "30"}
        d.write_conf()
        d.start()
        self.d = d
        self.addr = d.port("web")
        c = self.conn()
        c.send(get("/delay?gone=1"))
        wait_for(lambda: self.active() == 1, timeout=30,
                 what="the pending request")
        c.close()

        def line():
            if not os.path.exists(log):
                return None
            return [x for x in open(log).read().splitlines()
                    if "/delay?gone=1" in x]
        got = wait_for(line, timeout=30, what="its access log line")
        self.assertEqual(len(got), 1, got)
        self.assertIn('"GET /delay?gone=1 HTTP/1.1" 499 0', got[0])

    def test_pending_request_across_reload(self):
        """A request pending when a HUP comes is answered by the old
        worker, and its connection goes on with the new generation; the
        new generation serves meanwhile."""
        d = self.start(delay="2", workers=1)
        old = d.workers()
        c = self.conn()
        c.send(get("/delay"))
        wait_for(lambda: self.active() == 1, timeout=30,
                 what="the request to be pending")
        d.signal(signal.SIGHUP)
        d.wait_log(r"reload done: generation 2 serves", timeout=30)
        self.assertEqual(self.conn_get_hello(), b"Hello, World!")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"late"))
        # Answered as usual, kept alive, then handed to the new worker.
        self.assertNotEqual(r.header("connection"), "close")
        wait_for(lambda: not set(old) & set(d.workers()), timeout=30,
                 what="the old worker to exit once it answered")
        c.send(get("/hello"))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
        c.close()

    def test_graceful_stop_waits_for_pending(self):
        d = self.start(delay="1")
        c = self.conn()
        c.send(get("/delay"))
        wait_for(lambda: self.active() == 1, timeout=30,
                 what="the request to be pending")
        d.signal(signal.SIGQUIT)
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"late"))
        c.close()
        self.assertEqual(d.wait_exit(timeout=30), 0)


SHORT_TIMEOUTS = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    header_timeout = 1
    body_timeout = 1
    send_timeout = 1
    max_body_size = 1099511627776
    location "/echo" { echo_body = on }
    location "/delay" { delay = 2.5  return = "200 late" }
}
"""


class PendingTimeoutsTest(DroverTest):
    """A pending request keeps its connection's timeouts: those of the
    client's part (the body, reading the response), not of the handler's
    own waiting."""

    def start(self):
        d = self.drover(workers=1, servers=SHORT_TIMEOUTS,
                        log_level="debug")
        d.start()
        self.d = d
        self.addr = d.port("web")

    def test_stalled_body_times_out(self):
        self.start()
        c = Conn(self.addr[0], self.addr[1], timeout=30)
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000"
               b"\r\n\r\n" + b"q" * 10)
        r = c.read_response(head_request=True)  # the head: streaming
        self.assertEqual(r.status, 200)
        self.assertTrue(c.closed_by_server())
        self.assertEqual(c.buf, b"q" * 10)     # what came, then the close
        c.close()
        self.d.wait_log(r"echo_body request cancelled: timeout")

    def test_client_that_does_not_read_times_out(self):
        self.start()
        s = socket.create_connection(self.addr, timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
                  b"%d\r\n\r\n" % (64 << 20))
        s.setblocking(False)
        # Keep sending until drover closes: it stops reading once its
        # output waits, and send_timeout then ends the request.
        closed = False
        deadline = time.monotonic() + 60
        while not closed and time.monotonic() < deadline:
            try:
                s.send(b"w" * 65536)
            except BlockingIOError:
                time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        s.close()
        self.assertTrue(closed, "drover never closed the connection")
        self.d.wait_log(r"echo_body request cancelled: send timeout")

    def test_trickle_does_not_hold_off_send_timeout(self):
        """A client that reads nothing but sends a byte now and then:
        input is not output, send_timeout still ends it."""
        self.start()
        s = socket.create_connection(self.addr, timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
                  b"%d\r\n\r\n" % (64 << 20))
        # Until drover's output waits for us (the send buffer of its end
        # is full), in steps small enough that its receive buffer keeps
        # room for the trickle that follows.
        closed = False
        for _ in range(4096):       # 64 MiB at most
            try:
                s.sendall(b"x" * 16384)
            except (BrokenPipeError, ConnectionResetError):
                closed = True       # send_timeout came already
                break
            if server_send_full(self.addr[1], s):
                break
        self.assertTrue(closed or server_send_full(self.addr[1], s))
        s.setblocking(False)
        deadline = time.monotonic() + 30
        while not closed and time.monotonic() < deadline:
            try:
                s.send(b"y")
                time.sleep(0.3)     # a trickle, not a wait
            except BlockingIOError:
                time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        s.close()
        self.assertTrue(closed, "a trickling client held off send_timeout")
        self.d.wait_log(r"echo_body request cancelled: send timeout")

    def test_handler_waiting_is_not_the_clients_timeout(self):
        """delay (2.5 s) is longer than header_timeout and body_timeout
        (1 s): the request is answered, not timed out, since the client
        owes nothing."""
        self.start()
        c = Conn(self.addr[0], self.addr[1], timeout=30)
        c.send(get("/delay"))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"late"))
        c.close()
        self.assertNotIn("cancelled", self.d.log())


if __name__ == "__main__":
    main()
