"""Hostile cases for the connection readiness logic (poller.c, and its
users http.c and echo.c): connections sit edge-triggered in a per-server
epoll set and remember what the edges said (rready, wready, rdhup). An
edge that comes while a connection waits for the other direction, or a
read that leaves bytes or a FIN in the socket, must never be forgotten:
if it is, the connection hangs until a timeout, or loses bytes. Each
test sets things up so that such an edge comes at the worst moment."""

import errno
import json
import os
import select
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DroverTest, main, server_queues, sleeping,  # noqa
                       unread, wait_for)
from httplib_raw import Conn, get  # noqa: E402
import test_http  # noqa: E402  (make_site only; its tests are not run here)

IS_ROOT = os.geteuid() == 0
BIG = 6 << 20       # more than a loopback socket's send buffer (4 MiB)
# Seconds a client waits for a byte before calling it a hang: generous
# (a loaded machine), so the server's own timeouts are set well above it
# (a hang until one of those must still fail the client's wait).
HANG = 30

HTTP_SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    header_timeout = %(header_timeout)d
    keepalive_timeout = %(slow)d
    send_timeout = %(slow)d
    defer_accept = %(defer_accept)s
    max_body_size = 1024
    max_header_size = 16384
    max_headers = 100
    location "/" { root = "%(dir)s/www" }
    location "/hello" { return = "200 Hello, World!" }
    location "/status" { stats = json }
}
"""


class BConn(Conn):
    """A Conn with a byte array buffer (large bodies) and an optional
    receive buffer size, set before connecting so it bounds the window."""

    def __init__(self, host, port, timeout=HANG, rcvbuf=None, sndbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise AssertionError("no byte from the server in %ss: the "
                                 "connection hangs" % self.sock.gettimeout()
                                 ) from None
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def expect(self, tc, body, status=200):
        r = self.read_response()
        tc.assertEqual(r.status, status)
        tc.assertEqual(len(r.body), len(body))
        tc.assertTrue(r.body == body, "response body differs")
        return r

    def expect_eof(self, tc):
        """The server ends the connection (a FIN, no reset) within
        the socket timeout, and sends nothing more before it."""
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            tc.fail("the server did not close the connection within %ss"
                    % self.sock.gettimeout())
        except ConnectionResetError:
            tc.fail("reset instead of a clean close")
        tc.assertEqual(bytes(self.buf) + chunk, b"", "bytes after the last "
                       "response")


class ReadinessTest(DroverTest):

    def web(self, header_timeout=10, defer_accept=False, big=False,
            log_level="info"):
        d = self.drover(workers=1, servers="", log_level=log_level)
        test_http.make_site(d.dir)
        if big:
            for name in ("big1.bin", "big2.bin"):
                data = os.urandom(BIG)
                with open(os.path.join(d.dir, "www", name), "wb") as f:
                    f.write(data)
                os.chmod(os.path.join(d.dir, "www", name), 0o644)
                setattr(self, name.split(".")[0], data)
        d.params["extra"] = ('user = "nobody"\ngroup = "nogroup"\n'
                             if IS_ROOT else "")
        d.params["servers"] = HTTP_SERVER % dict(
            dir=d.dir, header_timeout=header_timeout, slow=HANG * 4,
            defer_accept="true" if defer_accept else "false")
        d.write_conf()
        d.start()
        self.d = d
        self.host, self.port = d.port("web")
        self.worker = d.workers()[0]
        return d

    def wait_blocked(self, c):
        """Wait until the worker has had to stop sending to c: the client
        has bytes it has not read, the server's send queue is not empty
        and the (only) worker sleeps in poll(), twice in a row. A worker
        writes until EAGAIN before it polls, so it now waits for an
        EPOLLOUT edge."""
        seen = [0]

        def blocked():
            ok = (unread(c.sock) > 0 and sleeping(self.worker) and
                  server_queues(self.port, c.sock)[1] > 0)
            seen[0] = seen[0] + 1 if ok else 0
            return seen[0] >= 2
        wait_for(blocked, what="the server blocked on sending")

    # -- HTTP ---------------------------------------------------------------

    def test_input_while_response_waits_for_room(self):
        """Requests that arrive while a large response waits for room are
        an EPOLLIN edge seen in the write state: rready must be kept and
        the connection posted once the response is out. Forgetting it
        (e.g. poller_want_read not posting) leaves the late requests
        unanswered until the keep-alive timeout."""
        self.web(big=True)
        c = BConn(self.host, self.port, rcvbuf=64 * 1024)
        c.send(get("/big1.bin") + get("/big2.bin") + get("/hello.txt"))
        self.wait_blocked(c)            # in the first file
        c.send(get("/hello") + get("/big2.bin") + get("/hello.txt"))
        c.expect(self, self.big1)
        self.wait_blocked(c)            # in the second file
        c.send(get("/big1.bin") + get("/hello"))
        c.expect(self, self.big2)
        c.expect(self, b"hello, file\n")
        c.expect(self, b"Hello, World!")
        c.expect(self, self.big2)
        c.expect(self, b"hello, file\n")
        c.expect(self, self.big1)
        c.expect(self, b"Hello, World!")
        c.send(get("/hello"))           # and keep-alive goes on
        c.expect(self, b"Hello, World!")
        c.close()

    def test_fin_while_response_blocked(self):
        """The client's FIN (after one more request) comes while a large
        response is blocked on a full socket: the response completes, the
        last request is answered, then the server closes at once. A lost
        FIN edge, or a short read that clears rready although the FIN is
        still unread, leaves it open until the keep-alive timeout."""
        self.web(big=True)
        c = BConn(self.host, self.port, rcvbuf=64 * 1024)
        c.send(get("/big1.bin"))
        self.wait_blocked(c)
        c.send(get("/hello.txt"))
        c.sock.shutdown(socket.SHUT_WR)
        c.expect(self, self.big1)
        c.expect(self, b"hello, file\n")
        c.expect_eof(self)
        c.close()
        # The same with nothing but the FIN after the blocked response.
        c = BConn(self.host, self.port, rcvbuf=64 * 1024)
        c.send(get("/big2.bin"))
        self.wait_blocked(c)
        c.sock.shutdown(socket.SHUT_WR)
        c.expect(self, self.big2)
        c.expect_eof(self)
        c.close()

    def test_bytes_during_a_blocked_close_response_do_not_reset_it(self):
        """A client asked to close, then sent a stray byte while the large
        response was blocked. Closing at once with that byte unread makes
        the kernel send a reset that destroys the rest of the response:
        the close must linger because input came (rready), not only when
        the buffer holds some."""
        self.web(big=True)
        c = BConn(self.host, self.port, rcvbuf=64 * 1024)
        c.send(get("/big1.bin", extra="Connection: close\r\n"))
        self.wait_blocked(c)
        c.send(b"\r\n")
        try:
            c.expect(self, self.big1)
        except ConnectionResetError:
            self.fail("the response was cut off by a reset")
        c.expect_eof(self)
        c.close()

    def test_head_larger_than_first_buffer(self):
        """A request head of ~7 KiB, over the 4 KiB first read buffer, sent
        in one write: the first read fills the buffer, so the socket is
        not known to be empty and the rest must be read without an edge
        (none will come). With defer_accept the first read is at accept,
        before the connection is in epoll. Clearing rready after a full
        read hangs the keep-alive requests until header_timeout (408)."""
        self.web(defer_accept=True, header_timeout=HANG * 2)
        pad = b"".join(b"X-Pad-%02d: %s\r\n" % (i, b"v" * 100)
                       for i in range(60))
        big_get = (b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n" + pad +
                   b"\r\n")
        self.assertGreater(len(big_get), 6000)
        c = BConn(self.host, self.port)
        for _ in range(3):      # the first one is read at accept
            c.send(big_get)
            c.expect(self, b"hello, file\n")
        c.send(big_get + get("/hello") + big_get)   # pipelined
        c.expect(self, b"hello, file\n")
        c.expect(self, b"Hello, World!")
        c.expect(self, b"hello, file\n")
        c.send(get("/hello", extra="Connection: close\r\n"))
        c.expect(self, b"Hello, World!")
        c.expect_eof(self)
        c.close()

    def test_500_pipelined_requests_in_one_write(self):
        """500 small requests in one write fill the 4 KiB input buffer
        again and again; each full read must post the connection to read
        on (there is no edge for bytes already there). All are answered,
        in order (each file has its own body)."""
        d = self.web()
        for i in range(500):
            path = os.path.join(d.dir, "www", "n%d.txt" % i)
            with open(path, "wb") as f:
                f.write(b"%d\n" % i)
            os.chmod(path, 0o644)
        c = BConn(self.host, self.port)
        c.send(b"".join(get("/n%d.txt" % i) for i in range(500)))
        for i in range(500):
            c.expect(self, b"%d\n" % i)
        # And once more, now that the connection has been through it.
        c.send(get("/hello") * 500)
        for i in range(500):
            c.expect(self, b"Hello, World!")
        c.close()

    POST_413 = (b"POST /hello HTTP/1.1\r\nHost: t\r\n"
                b"Content-Length: 100000000\r\n\r\n")
    LINGER_TURN = 16 * 4096     # what a lingering close reads per turn

    def lingering(self, n):
        """n connections that got a 413 with Connection: close: the
        server has half-closed each and lingers, reading what comes."""
        streams = []
        for _ in range(n):
            c = BConn(self.host, self.port)
            c.send(self.POST_413)
            r = c.read_response()
            self.assertEqual((r.status, r.header("connection")),
                             (413, "close"))
            streams.append(c)
        return streams

    def test_linger_with_clients_that_keep_sending(self):
        """After a 413 with Connection: close the server half-closes and
        reads what still comes. Clients that stream on must not hold the
        worker (the lingering close reads a bounded amount per turn, then
        lets the loop turn): another connection on the same (only) worker
        is served meanwhile, and the linger timeout (2 s) ends the
        streaming connections. Reading until EAGAIN instead stalls the
        worker for as long as a client keeps the socket full."""
        self.web(log_level="debug")     # says why it closes a connection
        other = BConn(self.host, self.port)
        other.send(get("/hello"))
        other.expect(self, b"Hello, World!")
        nstreams = 3

        # 1. Served before the lingering connections are read through.
        # With the worker stopped, each of three keep-alive connections
        # queues a request that gets a 413, then far more than a turn's
        # linger read, then its FIN; then another connection asks for
        # /status with a head too long for one read. Woken, the worker
        # answers the 413s and lingers, and reads /status's head in two
        # turns, the second after the first lingering reads: a bounded
        # read leaves each FIN unread until later, so /status counts the
        # three open; reading to the end first has closed them.
        streams = []
        for _ in range(nstreams):
            c = BConn(self.host, self.port, sndbuf=1 << 20)
            c.send(get("/hello"))
            c.expect(self, b"Hello, World!")    # in the epoll set, idle
            streams.append(c)
        pad = b"".join(b"X-Pad-%02d: %s\r\n" % (i, b"v" * 100)
                       for i in range(60))
        status = b"GET /status HTTP/1.1\r\nHost: t\r\n" + pad + b"\r\n"
        chunk = os.urandom(64 * 1024)
        backlog = []
        os.kill(self.worker, signal.SIGSTOP)
        try:
            for c in streams:
                c.send(self.POST_413)
                c.sock.setblocking(False)
                queued = 0
                try:
                    while True:
                        queued += c.sock.send(chunk)
                except BlockingIOError:
                    pass
                c.sock.settimeout(HANG)
                c.sock.shutdown(socket.SHUT_WR)
                backlog.append(queued)
            other.send(status)
        finally:
            os.kill(self.worker, signal.SIGCONT)
        for queued in backlog:      # what the test needs, not a timing
            self.assertGreater(queued, 4 * self.LINGER_TURN)
        r = other.read_response()
        self.assertEqual(r.status, 200)
        active = json.loads(r.body)["total"]["active"]
        self.assertEqual(active, nstreams + 1, "a lingering connection was "
                         "read to its end before another connection was "
                         "answered")
        for c in streams:           # the 413, then our FIN read: closed
            r = c.read_response()
            self.assertEqual(r.status, 413)
            c.expect_eof(self)
            c.close()

        # 2. Clients that keep sending after their 413 until the server
        # ends them, while another connection asks again and again. An
        # answer shows the worker was not held if each client was still
        # open when it came and sent more after it.
        streams = self.lingering(nstreams)
        chunk = os.urandom(256 * 1024)
        lock = threading.Lock()
        sent = [0] * nstreams
        ends = [None] * nstreams

        def stream(i, c):
            c.sock.settimeout(0.5)      # to look at the bound below
            bound = time.monotonic() + HANG     # against a hang only
            while time.monotonic() < bound:
                try:
                    n = c.sock.send(chunk)
                except socket.timeout:
                    continue
                except OSError as e:
                    if e.errno in (errno.ECONNRESET, errno.EPIPE):
                        ends[i] = "closed"
                        return
                    raise
                with lock:
                    sent[i] += n
            ends[i] = "still open after %d s" % HANG
        threads = [threading.Thread(target=stream, args=(i, c), daemon=True)
                   for i, c in enumerate(streams)]
        for t in threads:
            t.start()
        marks = []      # (bytes sent so far, streams still open) per answer
        while any(t.is_alive() for t in threads):
            other.send(get("/hello"))
            other.expect(self, b"Hello, World!")
            with lock:
                marks.append((list(sent), [e is None for e in ends]))
        for t in threads:
            t.join(HANG)
        for why in ends:
            self.assertEqual(why, "closed", "a lingering connection was "
                             "not ended")
        meanwhile = [m for m, still in marks if all(still) and
                     all(sent[i] > m[i] for i in range(nstreams))]
        self.assertTrue(meanwhile, "no request on another connection was "
                        "answered while the lingering ones streamed (%d "
                        "answers in all)" % len(marks))
        # Ended by the linger timeout (not by a FIN: they sent none).
        self.d.wait_log(r"(?s)(closed: timeout.*){%d}" % nstreams)
        other.send(get("/hello"))
        other.expect(self, b"Hello, World!")
        for c in streams:
            c.close()
        other.close()

    def test_requests_and_fins_queued_while_worker_stopped(self):
        """With the worker stopped, 100 keep-alive connections (more than
        the 64 edges taken per wake-up) and 20 new ones each get requests
        and a FIN; two get a large file that will block. After SIGCONT
        every one is answered in full and closed at once: the FIN that
        came with the request (one edge) is remembered across the short
        read, the response, and the wait for room to write."""
        self.web(big=True)
        conns = []
        for _ in range(100):
            c = BConn(self.host, self.port, rcvbuf=64 * 1024)
            c.send(get("/hello"))
            c.expect(self, b"Hello, World!")    # in the epoll set now
            conns.append(c)
        os.kill(self.worker, signal.SIGSTOP)
        try:
            fresh = [BConn(self.host, self.port, rcvbuf=64 * 1024)
                     for _ in range(20)]
            want = []
            for i, c in enumerate(conns + fresh):
                if i in (7, 107):
                    reqs = [("/big1.bin", self.big1), ("/hello", None)]
                elif i % 2:
                    reqs = [("/hello.txt", b"hello, file\n"),
                            ("/hello", None)]
                else:
                    reqs = [("/hello", None)]
                c.send(b"".join(get(p) for p, _ in reqs))
                c.sock.shutdown(socket.SHUT_WR)
                want.append([b or b"Hello, World!" for _, b in reqs])
        finally:
            os.kill(self.worker, signal.SIGCONT)
        for i, (c, bodies) in enumerate(zip(conns + fresh, want)):
            for body in bodies:
                c.expect(self, body)
            c.expect_eof(self)
            c.close()

    # -- echo ---------------------------------------------------------------

    def echo(self):
        d = self.drover(workers=1, idle=HANG * 4)
        d.start()
        return d

    def test_echo_blocked_output_then_half_close(self):
        """A client sends without reading until echo's output is blocked
        (EAGAIN on a full socket, its 64 KiB buffer full, input no longer
        read: about 4 MiB on loopback, as the kernel grows the send buffer
        to tcp_wmem's maximum, so 1 MiB is not enough), then half-closes,
        then reads: every byte comes back, then EOF. Without EPOLLOUT
        (poller_want_write not called), or with rready dropped while the
        buffer was full, the rest never moves."""
        d = self.echo()
        worker = d.workers()[0]
        port = d.port()[1]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.connect(d.port())
        payload = os.urandom(32 << 20)
        step = 256 * 1024
        s.setblocking(False)
        sent, ok = 0, 0
        deadline = time.monotonic() + HANG     # against a hang only
        while sent < len(payload) and time.monotonic() < deadline:
            recv_q, send_q = server_queues(port, s)
            # Echo stopped reading (its input queues up) because its
            # output is full (queued too, and unread by us), and waits.
            stalled = (recv_q > 0 and send_q > 0 and unread(s) > 0 and
                       sleeping(worker))
            ok = ok + 1 if stalled else 0
            if ok >= 2:
                break
            if not select.select([], [s], [], 0.2)[1]:
                continue
            try:
                sent += s.send(payload[sent:sent + step])
            except BlockingIOError:
                pass
        if ok < 2:
            self.skipTest("echo's output never blocked (%d bytes sent)"
                          % sent)
        s.shutdown(socket.SHUT_WR)
        s.setblocking(True)
        s.settimeout(HANG)
        got = bytearray()
        for _ in range(100000):
            try:
                b = s.recv(1 << 16)
            except socket.timeout:
                self.fail("echo stalled after %d of %d bytes"
                          % (len(got), sent))
            if not b:
                break
            got += b
        s.close()
        self.assertEqual(len(got), sent)
        self.assertTrue(got == payload[:sent], "echoed bytes differ")

    def test_echo_slow_reader_small_pieces(self):
        """A reader with a tiny receive buffer that takes 1000 bytes at a
        time while a thread sends 8 MiB and a FIN: the server's output
        waits for room again and again (an EPOLLOUT edge each time), and
        its input waits while the buffer is full. All bytes come back in
        order, then EOF."""
        d = self.echo()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(HANG)
        s.connect(d.port())
        payload = os.urandom(8 << 20)   # more than the send buffer
        err = []

        def send_all():
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=send_all, daemon=True)
        t.start()
        got = bytearray()
        for _ in range(len(payload)):       # >= 1 byte per round
            try:
                b = s.recv(1000)
            except socket.timeout:
                self.fail("echo stalled after %d of %d bytes"
                          % (len(got), len(payload)))
            if not b:
                break
            got += b
        t.join(HANG)
        s.close()
        self.assertEqual(err, [])
        self.assertEqual(len(got), len(payload))
        self.assertTrue(got == payload, "echoed bytes differ")


if __name__ == "__main__":
    main()
