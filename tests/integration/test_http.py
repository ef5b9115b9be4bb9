"""The HTTP/1.1 service against the real daemon, with curl, wrk and raw
sockets: routing, keep-alive, pipelining, errors, static files, limits,
the access log, status and metrics, and draining on reload."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, main, run,  # noqa
                       wait_for, wrk_during)
from httplib_raw import Conn, get, request  # noqa: E402

IS_ROOT = os.geteuid() == 0

HTTP_SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    header_timeout = %(header_timeout)d
    keepalive_timeout = %(keepalive_timeout)d
    defer_accept = %(defer_accept)s
    max_connections = %(max_connections)d
    max_body_size = 1024
    max_request_line = 1024
    max_header_size = 2048
    max_headers = 20
    access_log = "%(dir)s/access.log"
    location "/" { root = "%(dir)s/www" }
    location "/hello" { return = "200 Hello, World!" }
    location "/moved" { return = "301 http://example.invalid/new" }
    location "/status" { stats = json }
    location "/metrics" { stats = prometheus }
    location "/follow" { root = "%(dir)s/www2" follow_symlinks = true }
}
"""


def make_site(d):
    www = os.path.join(d, "www")
    os.makedirs(os.path.join(www, "sub"))
    os.makedirs(os.path.join(www, "noindex"))
    os.makedirs(os.path.join(d, "www2", "follow"))
    files = {
        "index.html": b"<h1>drover</h1>\n",
        "hello.txt": b"hello, file\n",
        "sub/index.html": b"sub index\n",
        "noindex/data.json": b'{"a": 1}\n',
        "style.css": b"body {}\n",
        "secret.txt": b"top secret\n",
    }
    for name, data in files.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write(data)
    os.chmod(os.path.join(www, "secret.txt"), 0)
    os.symlink(os.path.join(www, "hello.txt"), os.path.join(www, "link-in"))
    os.symlink("/etc/hostname", os.path.join(www, "link-out"))
    os.symlink("/etc/hostname", os.path.join(d, "www2", "follow",
                                             "link-out"))
    # Old enough for the open-file cache to keep small files in memory
    # (it does not for files modified in the last two seconds).
    old = time.time() - 3600
    for name in files:
        os.utime(os.path.join(www, name), (old, old))
    for root, dirs, _ in os.walk(d):
        os.chmod(root, 0o755)
    os.chmod(d, 0o777)
    return www


class HttpTest(DroverTest):

    def web(self, workers=1, header_timeout=10, max_connections=1000,
            start=True, keepalive_timeout=75, defer_accept=False):
        d = self.drover(workers=workers, servers="")
        make_site(d.dir)
        extra = 'user = "nobody"\ngroup = "nogroup"\n' if IS_ROOT else ""
        d.params["extra"] = extra
        d.params["servers"] = HTTP_SERVER % dict(
            dir=d.dir, header_timeout=header_timeout,
            keepalive_timeout=keepalive_timeout,
            defer_accept="true" if defer_accept else "false",
            max_connections=max_connections)
        d.write_conf()
        if start:
            d.start()
            self.host, self.port = d.port("web")
        return d

    def req(self, raw, head=False):
        return request(self.host, self.port, raw, head_request=head)

    def curl(self, *args):
        r = run(["curl", "-sS", "--max-time", "20"] + list(args))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def url(self, path):
        return "http://%s:%d%s" % (self.host, self.port, path)

    # -- routing and the protocol ----------------------------------------

    def test_fixed_response(self):
        self.web()
        r = self.req(get("/hello"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"Hello, World!")
        self.assertEqual(r.header("content-length"), "13")
        self.assertTrue(r.header("content-type").startswith("text/plain"))
        self.assertRegex(r.header("date"),
                         r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")
        self.assertTrue(r.header("server").startswith("drover"))
        self.assertEqual(self.curl(self.url("/hello")), "Hello, World!")

    def test_head_has_length_but_no_body(self):
        self.web()
        c = Conn(self.host, self.port)
        c.send(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" + get("/hello"))
        r = c.read_response(head_request=True)
        self.assertEqual((r.status, r.header("content-length"), r.body),
                         (200, "13", b""))
        self.assertEqual(c.read_response().body, b"Hello, World!")
        c.close()

    def test_redirect_return(self):
        self.web()
        r = self.req(get("/moved"))
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("location"), "http://example.invalid/new")

    def test_keep_alive_reuses_connection(self):
        self.web()
        c = Conn(self.host, self.port)
        for _ in range(5):
            c.send(get("/hello"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("connection"))
        c.close()
        out = run(["curl", "-sv", self.url("/hello"), self.url("/hello")])
        self.assertIn("Re-using existing connection", out.stderr)

    def test_pipelining_100_requests_in_one_write(self):
        self.web()
        c = Conn(self.host, self.port)
        paths = ["/hello" if i % 2 else "/hello.txt" for i in range(100)]
        c.send(b"".join(get(p) for p in paths))
        for p in paths:
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"Hello, World!" if p == "/hello"
                             else b"hello, file\n")
        c.close()

    def test_http10_and_connection_close(self):
        self.web()
        c = Conn(self.host, self.port)
        c.send(b"GET /hello HTTP/1.0\r\n\r\n")
        r = c.read_response()
        self.assertEqual((r.status, r.header("connection")), (200, "close"))
        self.assertTrue(c.closed_by_server())
        c.close()
        c = Conn(self.host, self.port)
        c.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.header("connection"), "keep-alive")
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.header("connection"), "close")
        self.assertTrue(c.closed_by_server())
        c.close()

    def test_error_statuses(self):
        self.web()
        long_uri = "/" + "a" * 2000
        cases = [
            (b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
             405),
            (b"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n", 405),
            (b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501),
            (b"GET /hello HTTP/1.1\r\n\r\n", 400),
            (b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505),
            (("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % long_uri).encode(),
             414),
            (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 3000 +
             b"\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\nHost: t\r\n" +
             b"".join(b"X-%d: 1\r\n" % i for i in range(30)) + b"\r\n", 431),
            (b"GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
            (b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 99999\r\n"
             b"\r\n", 413),
            (b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            (b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
             b"Content-Length: 4\r\n\r\nabcd", 400),
            (b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n", 404),
        ]
        for raw, status in cases:
            r = self.req(raw)
            self.assertEqual(r.status, status, raw[:60])
            self.assertIsNotNone(r.header("content-length"))
            if status in (400, 413, 414, 431, 501, 505):
                self.assertEqual(r.header("connection"), "close", raw[:60])
            if status == 405:
                self.assertEqual(r.header("allow"), "GET, HEAD")

    def test_bodies_are_read_and_discarded(self):
        self.web()
        c = Conn(self.host, self.port)
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
               b"chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"
               + get("/hello"))
        self.assertEqual(c.read_response().status, 405)
        self.assertEqual(c.read_response().status, 200)
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
               b"\r\nhello" + get("/hello"))
        self.assertEqual(c.read_response().status, 405)
        self.assertEqual(c.read_response().body, b"Hello, World!")
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
               b"chunked\r\n\r\nzz\r\n")
        r = c.read_response()
        self.assertEqual((r.status, r.header("connection")), (400, "close"))
        c.close()

    def test_expect_100_continue(self):
        self.web()
        c = Conn(self.host, self.port)
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 100)
        c.send(b"body")
        self.assertEqual(c.read_response().status, 405)
        c.close()

    # -- static files -----------------------------------------------------

    def test_static_files(self):
        self.web()
        r = self.req(get("/hello.txt"))
        self.assertEqual((r.status, r.body), (200, b"hello, file\n"))
        self.assertTrue(r.header("content-type").startswith("text/plain"))
        self.assertIsNotNone(r.header("last-modified"))
        self.assertIsNotNone(r.header("etag"))
        self.assertTrue(self.req(get("/style.css")).header(
            "content-type").startswith("text/css"))
        self.assertTrue(self.req(get("/noindex/data.json")).header(
            "content-type").startswith("application/json"))
        r = self.req(get("/"))
        self.assertEqual((r.status, r.body), (200, b"<h1>drover</h1>\n"))
        self.assertTrue(r.header("content-type").startswith("text/html"))
        r = self.req(get("/sub?x=1"))
        self.assertEqual((r.status, r.header("location")), (301, "/sub/?x=1"))
        self.assertEqual(self.req(get("/sub/")).body, b"sub index\n")
        self.assertEqual(self.req(get("/noindex/")).status, 403)
        self.assertEqual(self.req(get("/nope.txt")).status, 404)
        self.assertEqual(self.req(get("/hello.txt/x")).status, 404)

    def test_conditional_get(self):
        self.web()
        r = self.req(get("/hello.txt"))
        etag, lm = r.header("etag"), r.header("last-modified")
        r = self.req(get("/hello.txt", extra="If-None-Match: %s\r\n" % etag))
        self.assertEqual((r.status, r.body), (304, b""))
        self.assertEqual(r.header("etag"), etag)
        r = self.req(get("/hello.txt",
                         extra='If-None-Match: "other", W/%s\r\n' % etag))
        self.assertEqual(r.status, 304)
        r = self.req(get("/hello.txt", extra='If-None-Match: "x"\r\n'))
        self.assertEqual(r.status, 200)
        r = self.req(get("/hello.txt", extra="If-Modified-Since: %s\r\n" % lm))
        self.assertEqual(r.status, 304)
        r = self.req(get("/hello.txt", extra="If-Modified-Since: "
                         "Sat, 01 Jan 2000 00:00:00 GMT\r\n"))
        self.assertEqual(r.status, 200)

    def test_ranges(self):
        self.web()
        r = self.req(get("/hello.txt", extra="Range: bytes=0-4\r\n"))
        self.assertEqual((r.status, r.body), (206, b"hello"))
        self.assertEqual(r.header("content-range"), "bytes 0-4/12")
        r = self.req(get("/hello.txt", extra="Range: bytes=-5\r\n"))
        self.assertEqual((r.status, r.body), (206, b"file\n"))
        r = self.req(get("/hello.txt", extra="Range: bytes=7-\r\n"))
        self.assertEqual(r.body, b"file\n")
        r = self.req(get("/hello.txt", extra="Range: bytes=50-60\r\n"))
        self.assertEqual(r.status, 416)
        self.assertEqual(r.header("content-range"), "bytes */12")
        r = self.req(get("/hello.txt", extra="Range: bytes=0-1,3-4\r\n"))
        self.assertEqual((r.status, r.body), (200, b"hello, file\n"))
        out = self.curl("-r", "1-3", self.url("/hello.txt"))
        self.assertEqual(out, "ell")

    def test_large_file_checksum(self):
        d = self.web()
        path = os.path.join(d.dir, "www", "big.bin")
        h = hashlib.sha256()
        block = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for i in range(50):
                chunk = bytes([i]) + block[1:]
                f.write(chunk)
                h.update(chunk)
        os.chmod(path, 0o644)
        out = os.path.join(d.dir, "download.bin")
        r = run(["curl", "-sS", "--max-time", "60", "-o", out, "-w",
                 "%{http_code} %{size_download}", self.url("/big.bin")],
                timeout=90)
        self.assertEqual(r.stdout, "200 %d" % (50 << 20), r.stderr)
        with open(out, "rb") as f:
            got = hashlib.sha256()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                got.update(chunk)
        self.assertEqual(got.hexdigest(), h.hexdigest())

    # -- the open-file cache ---------------------------------------------

    def write_file(self, d, name, data, replace=False):
        """Write www/NAME in place, or (replace) as a new file renamed
        over it, which gives it a new inode."""
        path = os.path.join(d.dir, "www", name)
        tmp = path + ".tmp" if replace else path
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        if replace:
            os.rename(tmp, path)
        return path

    def wait_body(self, path, want, status=200):
        def ok():
            r = self.req(get(path))
            return r.status == status and (want is None or r.body == want)
        wait_for(ok, what="%s to serve the new file" % path)

    def test_changed_files_are_noticed(self):
        d = self.web()
        self.assertEqual(self.req(get("/hello.txt")).body, b"hello, file\n")
        old = self.req(get("/hello.txt")).header("etag")
        # Rewritten in place (same inode, new size and mtime).
        self.write_file(d, "hello.txt", b"rewritten\n")
        self.wait_body("/hello.txt", b"rewritten\n")
        self.assertNotEqual(self.req(get("/hello.txt")).header("etag"), old)
        # Replaced by another file of the same size (a new inode).
        self.write_file(d, "hello.txt", b"REWRITTEN\n", replace=True)
        self.wait_body("/hello.txt", b"REWRITTEN\n")
        # Deleted, then created again: errors are not cached.
        os.unlink(os.path.join(d.dir, "www", "hello.txt"))
        self.wait_body("/hello.txt", None, status=404)
        self.write_file(d, "hello.txt", b"back\n")
        self.wait_body("/hello.txt", b"back\n")
        # A file that became a directory is served as a directory.
        self.write_file(d, "sub2", b"a file\n")
        self.wait_body("/sub2", b"a file\n")
        os.unlink(os.path.join(d.dir, "www", "sub2"))
        os.makedirs(os.path.join(d.dir, "www", "sub2"))
        self.wait_body("/sub2", None, status=301)
        # Large files (sent with sendfile from a cached descriptor) too.
        big1, big2 = os.urandom(300000), os.urandom(300000)
        self.write_file(d, "big.bin", big1)
        self.wait_body("/big.bin", big1)
        self.write_file(d, "big.bin", big2, replace=True)
        self.wait_body("/big.bin", big2)
        r = self.req(get("/big.bin", extra="Range: bytes=1000-1999\r\n"))
        self.assertEqual((r.status, r.body), (206, big2[1000:2000]))

    def test_more_files_than_the_cache_holds(self):
        d = self.web()
        names = ["f%03d.txt" % i for i in range(300)]
        for i, name in enumerate(names):
            self.write_file(d, name, (b"%d " % i) * (i + 1))
        c = Conn(self.host, self.port)
        for rnd in range(2):
            c.send(b"".join(get("/" + n) for n in names))
            for i, name in enumerate(names):
                r = c.read_response()
                self.assertEqual((r.status, r.body),
                                 (200, (b"%d " % i) * (i + 1)), name)
        c.close()

    def test_file_replaced_while_being_sent(self):
        """A response in flight keeps the file it started with, even when
        its cache entry is replaced and dropped meanwhile."""
        d = self.web()
        old, new = os.urandom(16 << 20), os.urandom(16 << 20)
        self.write_file(d, "big.bin", old)
        slow = Conn(self.host, self.port, timeout=30)
        # A bounded window (not so small that window updates stall), so
        # most of the file is still unsent while it is replaced.
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        slow.send(get("/big.bin"))
        while b"\r\n\r\n" not in slow.buf:
            slow._fill()
        head, rest = slow.buf.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.write_file(d, "big.bin", new, replace=True)

        def replaced():     # its first bytes say which file is served
            r = self.req(get("/big.bin", extra="Range: bytes=0-63\r\n"))
            return r.status == 206 and r.body == new[:64]
        wait_for(replaced, what="the new big.bin")
        body = bytearray(rest)
        while len(body) < len(old):
            chunk = slow.sock.recv(1 << 20)
            self.assertTrue(chunk, "closed after %d bytes" % len(body))
            body += chunk
        self.assertTrue(bytes(body) == old, "the slow response changed")
        slow.close()

    # -- closing -----------------------------------------------------------

    def test_close_with_more_bytes_sent_is_not_reset(self):
        """Bytes after a Connection: close request are read before the
        close (lingering close), so the response is never destroyed by a
        reset; without them the server closes at once."""
        self.web()
        # The tail is larger than the input buffer: part of it is still
        # unread in the socket when the response has been sent.
        for tail in (b"", get("/hello") * 3000):
            c = Conn(self.host, self.port)
            c.send(get("/hello", extra="Connection: close\r\n") + tail)
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
            # A clean end (FIN), not a reset: a reset may make a client
            # discard a response it has not read yet.
            try:
                while True:
                    chunk = c.sock.recv(65536)
                    if not chunk:
                        break
                    c.buf += chunk
            except ConnectionResetError:
                self.fail("reset after Connection: close (tail %d bytes)"
                          % len(tail))
            self.assertEqual(c.buf, b"", "answered past Connection: close")
            c.close()

    def accepted(self):
        return json.loads(self.req(get("/status")).body)["total"]["accepted"]

    def test_defer_accept(self):
        """defer_accept: a connection that has sent nothing is not handed
        to the worker; once it sends, it is served (read at once). The
        accept queue is FIFO, so without defer_accept the silent
        connection would be accepted before the /status one."""
        for defer in (False, True):
            d = self.web(defer_accept=defer)
            before = self.accepted()
            silent = Conn(self.host, self.port)
            after = self.accepted()
            self.assertEqual(after - before, 1 if defer else 2,
                             "defer_accept=%s" % defer)
            silent.send(get("/hello", extra="Connection: close\r\n"))
            r = silent.read_response()
            self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
            self.assertTrue(silent.closed_by_server())
            silent.close()
            c = Conn(self.host, self.port)  # keep-alive after a first read
            for _ in range(3):
                c.send(get("/hello.txt"))
                self.assertEqual(c.read_response().body, b"hello, file\n")
            c.close()
            d.cleanup()

    def test_request_and_fin_in_one_event(self):
        """A request and the client's FIN that arrive together are one
        edge-triggered event: the response goes out and the connection is
        closed at once, not after keepalive_timeout (75 s here)."""
        d = self.web()
        worker = d.workers()[0]
        c = Conn(self.host, self.port, timeout=20)
        c.send(get("/hello"))
        self.assertEqual(c.read_response().status, 200)   # registered
        os.kill(worker, signal.SIGSTOP)
        try:
            c.send(get("/hello") + get("/hello.txt"))
            c.sock.shutdown(socket.SHUT_WR)
        finally:
            os.kill(worker, signal.SIGCONT)
        self.assertEqual(c.read_response().body, b"Hello, World!")
        self.assertEqual(c.read_response().body, b"hello, file\n")
        self.assertTrue(c.closed_by_server())   # raises on the timeout
        c.close()

    def test_a_queue_built_while_stopped_is_all_served(self):
        """The accept batch follows what the queue held: after connections
        that came one at a time it is one. A queue of 300 that builds up
        meanwhile must still be accepted and answered in full (the
        listener is level-triggered; a batch that never grew back, or
        shrank to nothing, would strand them until the client's timeout)."""
        d = self.web(workers=1)
        worker = d.workers()[0]
        for _ in range(40):     # one at a time: the batch shrinks to one
            c = Conn(self.host, self.port)
            c.send(get("/hello", extra="Connection: close\r\n"))
            self.assertEqual(c.read_response().status, 200)
            c.close()
        conns = self._queue_while_stopped(worker, 300)
        for c in conns:
            self.assertEqual(c.read_response().body, b"Hello, World!")
            c.close()
        self.assertEqual(d.workers(), [worker])

    def test_idle_keep_alive_connection_times_out(self):
        self.web(keepalive_timeout=1, header_timeout=1)
        c = Conn(self.host, self.port, timeout=TIMEOUT)
        c.send(get("/hello"))
        self.assertEqual(c.read_response().status, 200)
        self.assertTrue(c.closed_by_server())
        c.close()
        # A connection that never sends a byte gets the header timeout.
        c = Conn(self.host, self.port, timeout=TIMEOUT)
        self.assertTrue(c.closed_by_server())
        c.close()

    def test_traversal_never_leaves_root(self):
        self.web()
        for path in ["/../etc/passwd", "/../../../../etc/passwd",
                     "/%2e%2e/%2e%2e/etc/passwd", "/sub/../../etc/passwd",
                     "/%2E%2e%2fetc%2fpasswd", "/..%2f..%2fetc/passwd",
                     "/sub/..%5c..%5cetc/passwd", "/hello.txt%00.png",
                     "//etc/passwd", "/./../etc/passwd"]:
            r = self.req(get(path))
            self.assertIn(r.status, (400, 403, 404), path)
            self.assertNotIn(b"root:", r.body, path)
        r = self.req(get("/sub/../hello.txt"))
        self.assertEqual((r.status, r.body), (200, b"hello, file\n"))

    def test_symlinks(self):
        self.web()
        self.assertEqual(self.req(get("/link-in")).body, b"hello, file\n")
        self.assertEqual(self.req(get("/link-out")).status, 403)
        if os.path.exists("/etc/hostname"):
            r = self.req(get("/follow/link-out"))
            self.assertEqual(r.status, 200)

    def test_unreadable_file_is_forbidden(self):
        self.web()
        self.assertEqual(self.req(get("/secret.txt")).status, 403)

    # -- protection -------------------------------------------------------

    def test_slowloris_gets_408(self):
        self.web(header_timeout=1)
        c = Conn(self.host, self.port, timeout=TIMEOUT)
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
        r = c.read_response()       # waits for the server's 408
        self.assertEqual((r.status, r.header("connection")), (408, "close"))
        self.assertTrue(c.closed_by_server())
        c.close()

    def test_max_connections_reached_and_recovered(self):
        d = self.web(max_connections=4)
        held = [Conn(self.host, self.port) for _ in range(4)]
        for c in held:      # all four accepted and served
            c.send(get("/hello"))
            self.assertEqual(c.read_response().status, 200)
        d.wait_log(r"max_connections \(4\) reached: pausing accepts")
        extra = Conn(self.host, self.port)
        extra.send(get("/hello"))
        # The fifth waits in the kernel's accept queue, not refused.
        wait_for(lambda: self._queued(self.port) >= 1,
                 what="a queued connection")
        held[0].close()
        r = extra.read_response()
        self.assertEqual(r.status, 200)
        d.wait_log(r"below max_connections: accepting again")
        for c in held[1:] + [extra]:
            c.close()

    def test_max_connections_holds_within_one_wake_up(self):
        """A queue longer than max_connections is accepted only up to the
        limit, even within one wake-up's batch: the rest stays queued."""
        d = self.web(max_connections=4)
        worker = d.workers()[0]
        conns = self._queue_while_stopped(worker, 12)
        for c in conns[:4]:     # FIFO: the first four are accepted
            self.assertEqual(c.read_response().status, 200)
        # They were accepted before they were served: the batch is over.
        self.assertEqual(self._queued(self.port), 8)
        for c in conns:
            c.close()

    def _queue_while_stopped(self, worker, n):
        """n connections, each with a request sent, queued in the listen
        queue while the worker is stopped; it is continued before this
        returns them."""
        os.kill(worker, signal.SIGSTOP)
        try:
            conns = [Conn(self.host, self.port, timeout=20)
                     for _ in range(n)]
            for c in conns:
                c.send(get("/hello"))
            wait_for(lambda: self._queued(self.port) >= n,
                     what="%d connections queued for the stopped worker" % n)
        finally:
            os.kill(worker, signal.SIGCONT)
        return conns

    @staticmethod
    def _queued(port):
        out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                             capture_output=True, text=True).stdout
        return sum(int(line.split()[1]) for line in out.splitlines())

    # -- logs and stats ---------------------------------------------------

    def test_access_log_and_reopen(self):
        d = self.web()
        log = os.path.join(d.dir, "access.log")
        for i in range(3):
            self.req(get("/hello?i=%d" % i, extra="User-Agent: t/1\r\n"))
        line_re = re.compile(
            r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
            r'"GET /hello\?i=\d HTTP/1\.1" 200 13 "-" "t/1" \d+\.\d{3}$')
        wait_for(lambda: os.path.exists(log) and
                 open(log).read().count("\n") >= 3, what="3 log lines")
        os.rename(log, log + ".1")
        run([DROVER, "-c", d.conf, "-s", "reopen"]).check_returncode()
        wait_for(lambda: os.path.exists(log), what="a new access log")
        self.req(get("/hello?i=9", extra="User-Agent: t/1\r\n"))
        self.req(get('/x"y', extra='User-Agent: evil"\r\n'))
        wait_for(lambda: open(log).read().count("\n") >= 2,
                 what="lines in the reopened log")
        with open(log + ".1") as f:
            old = f.read().splitlines()
        with open(log) as f:
            new = f.read().splitlines()
        for line in old + new[:1]:
            self.assertRegex(line, line_re)
        self.assertIn('"GET /x\\x22y HTTP/1.1" 404', new[1])
        self.assertIn('"evil\\x22"', new[1])

    def test_status_and_metrics(self):
        self.web(workers=2)
        for _ in range(10):
            self.req(get("/hello"))
        self.req(get("/missing"))
        r = self.req(get("/status"))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("content-type").startswith(
            "application/json"))
        st = json.loads(r.body)
        self.assertEqual(len(st["workers"]), 2)
        self.assertGreaterEqual(st["total"]["requests"], 12)
        self.assertGreaterEqual(st["total"]["responses"]["2xx"], 10)
        self.assertGreaterEqual(st["total"]["responses"]["4xx"], 1)
        self.assertEqual(sum(x["requests"] for x in st["series"]) +
                         st["retired"]["requests"], st["total"]["requests"])
        r = self.req(get("/metrics"))
        self.assertTrue(r.header("content-type").startswith("text/plain"))
        samples, types = {}, {}
        for line in r.body.decode().splitlines():
            if line.startswith("# TYPE"):
                _, _, name, kind = line.split()
                types[name] = kind
                continue
            if line.startswith("#"):
                self.assertTrue(line.startswith("# HELP "), line)
                continue
            m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\d+)$', line)
            self.assertIsNotNone(m, line)
            samples.setdefault(m.group(1), 0)
            samples[m.group(1)] += int(m.group(3))
        self.assertEqual(types["drover_requests_total"], "counter")
        self.assertEqual(types["drover_connections_active"], "gauge")
        self.assertGreaterEqual(samples["drover_requests_total"], 13)
        self.assertEqual(samples["drover_workers"], 2)

    def test_totals_survive_worker_replacement(self):
        d = self.web(workers=1)
        for _ in range(5):
            self.req(get("/hello"))
        before = json.loads(self.req(get("/status")).body)["total"]
        w = d.workers()[0]
        os.kill(w, signal.SIGKILL)
        d.wait_workers(1, exclude=[w])
        after = json.loads(self.req(get("/status")).body)
        self.assertGreaterEqual(after["total"]["requests"],
                                before["requests"] + 1)
        # The slot's new worker counts on in the dead one's series.
        self.assertEqual(len(after["series"]), 1)
        self.assertGreaterEqual(after["series"][0]["requests"], 6)

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_short_wrk_run_has_no_errors(self):
        self.web(workers=2)
        # A slow answer is no error (wrk's own 2 s would make it one).
        r = run(["wrk", "-t1", "-c16", "-d2s", "--timeout", "30s",
                 self.url("/hello")], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Socket errors", r.stdout)
        self.assertNotIn("Non-2xx", r.stdout)
        # More requests than connections: connections were kept alive
        # and served again (not a count per second).
        m = re.search(r"(\d+) requests in", r.stdout)
        self.assertGreater(int(m.group(1)), 16, r.stdout)

    # -- draining ---------------------------------------------------------

    def _wrk_during(self, d, event, extra_args):
        """event() (a reload) 8 times under wrk's load, each once the
        one before is done."""
        done = d.log().count("reload done")
        r, fired = wrk_during(
            self.url("/hello"), event, extra_args,
            settled=lambda n: d.log().count("reload done") >= done + n)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(fired, 4)
        return r.stdout

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_reloads_under_load_lose_nothing(self):
        """Reloads with the same worker count, under connection churn and
        under keep-alive load: zero socket errors, zero non-2xx. Each slot's
        listener is kept by the master, so no accept queue is destroyed."""
        d = self.web(workers=2)
        for extra in (["-H", "Connection: close"], []):
            out = self._wrk_during(d, lambda: d.signal(signal.SIGHUP),
                                   extra)
            self.assertNotIn("Socket errors", out, out)
            self.assertNotIn("Non-2xx", out, out)
        self.assertGreater(d.log().count("reload done"), 8)

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_worker_count_changes_under_load_lose_nothing(self):
        """Reloads cycling workers 4 -> 1 -> 3 -> 2 under both load shapes:
        listeners of retired slots are adopted by the new workers instead
        of being closed, so nothing queued is reset."""
        d = self.web(workers=2)
        counts = [4, 1, 3, 2]

        def reload_next():
            n = counts.pop(0)
            counts.append(n)
            d.write_conf(workers=n)
            d.signal(signal.SIGHUP)
        for extra in (["-H", "Connection: close"], []):
            out = self._wrk_during(d, reload_next, extra)
            self.assertNotIn("Socket errors", out, out)
            self.assertNotIn("Non-2xx", out, out)
        self.assertNotIn("reload failed", d.log())

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_queued_connections_survive_a_killed_worker(self):
        """Connections waiting in a killed worker's listen queue are
        served by its replacement, which takes over the same socket."""
        d = self.web(workers=1)
        w = d.workers()[0]
        os.kill(w, signal.SIGSTOP)      # it accepts nothing from now on
        conns = [Conn(self.host, self.port) for _ in range(5)]
        for c in conns:
            c.send(get("/hello"))
        wait_for(lambda: self._queued(self.port) >= 5,
                 what="5 connections queued for the stopped worker")
        os.kill(w, signal.SIGKILL)
        d.wait_workers(1, exclude=[w])
        for c in conns:
            self.assertEqual(c.read_response().body, b"Hello, World!")
            c.close()

    def test_reload_hands_idle_connections_over(self):
        d = self.web(workers=1)
        old = d.workers()
        conns = [Conn(self.host, self.port) for _ in range(10)]
        for c in conns:
            c.send(get("/hello"))
            self.assertEqual(c.read_response().status, 200)
        d.signal(signal.SIGHUP)
        # The old worker hands its idle keep-alive connections to the new
        # generation and exits: nothing of them is closed.
        d.wait_log(r"reload done: generation 2 serves")
        wait_for(lambda: not set(old) & set(d.workers()), timeout=30,
                 what="the old worker to hand everything over and exit")
        for c in conns:
            c.send(get("/hello"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertNotEqual(r.header("connection"), "close")
            c.close()


if __name__ == "__main__":
    main()
