"""The HTTP reverse proxy (location { proxy = NAME }) against real
backends the tests start (backends.py): bodies of every framing both
ways with checksums, 1 GiB each way with a bounded worker RSS, hop-by-hop
fields stripped both ways, the forwarding fields, 502/503/504 with their
causes in the log, retries, keep-alive reuse, a backend restart within
retry_wait, a WebSocket tunnel across a reload, and reloads under load
with no failed request."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backends import (PATTERN, Backend, Reader, pattern_crc,  # noqa: E402
                      ws_frame, ws_read)
from droverlib import (DroverTest, ipv6_loopback_available,  # noqa: E402
                       main, server_queues, unread, wait_for, wrk_during)

SANITIZED = "ASAN_OPTIONS" in os.environ
BIG = (256 << 20) if SANITIZED else (1 << 30)

UPSTREAM = """
upstream app {
    servers = {%(servers)s}
    retry_wait = %(retry_wait)d
    read_timeout = %(read_timeout)d
    %(more)s
}
"""

SERVER = """
server web {
    listen = {%(listen)s}
    protocol = http
    max_body_size = 1099511627776
    body_timeout = 30
    send_timeout = 30
    access_log = "%(dir)s/access.log"
    location "/" { proxy = app }
    location "/local" { return = "200 local" }
}
"""


def vm_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %d" % (field, pid))


class Response:
    def __init__(self, status, fields, crc, length, body):
        self.status = status
        self.fields = fields            # [(name, value)] as sent
        self.crc = crc
        self.length = length
        self.body = body                # the first 64 KiB

    def header(self, name):
        for k, v in self.fields:
            if k.lower() == name.lower():
                return v
        return None

    def names(self):
        return [k.lower() for k, _ in self.fields]


def read_response(r, head_request=False):
    """One response from Reader r, its body in any framing, hashed as
    it comes (a 1 GiB body is never kept)."""
    head = r.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    fields = [tuple(x.strip() for x in line.split(":", 1))
              for line in head[1:]]
    h = {k.lower(): v for k, v in fields}
    crc, n, body = 0, 0, b""

    def take(piece):
        nonlocal crc, n, body
        crc = zlib.crc32(piece, crc)
        n += len(piece)
        if len(body) < 65536:
            body += piece[:65536 - len(body)]
    if head_request or status in (204, 304) or status < 200:
        pass
    elif "chunked" in h.get("transfer-encoding", ""):
        while True:
            size = int(r.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                r.until(b"\r\n")
                break
            while size > 0:
                piece = r.some(size)
                size -= len(piece)
                take(piece)
            r.until(b"\r\n")
    elif "content-length" in h:
        left = int(h["content-length"])
        while left > 0:
            piece = r.some(left)
            left -= len(piece)
            take(piece)
    else:
        try:
            while True:
                take(r.some(1 << 20))
        except EOFError:
            pass
    return Response(status, fields, crc, n, body)


class ProxyTest(DroverTest):

    def setUp(self):
        super().setUp()
        self.backends = []

    def tearDown(self):
        for b in self.backends:
            b.stop()
        super().tearDown()

    def backend(self, **kw):
        b = Backend(**kw)
        self.backends.append(b)
        return b

    def start(self, servers, retry_wait=0, read_timeout=60, more="",
              workers=1, log_level="info", listen='"127.0.0.1:0"'):
        self.d = self.drover(workers=workers, log_level=log_level,
                             shutdown_timeout=30)
        text = ", ".join('"%s"' % s for s in servers)
        self.d.write_conf(extra=UPSTREAM % dict(
            servers=text, retry_wait=retry_wait, read_timeout=read_timeout,
            more=more), servers=SERVER % dict(dir=self.d.dir, listen=listen))
        self.d.start()
        self.host, self.port = self.d.port("web")
        return self.d

    def conn(self):
        s = socket.create_connection((self.host, self.port), timeout=30)
        return s, Reader(s)

    def request(self, raw, head_request=False):
        s, r = self.conn()
        try:
            s.sendall(raw)
            return read_response(r, head_request)
        finally:
            s.close()

    def get(self, path, version="1.1", extra=""):
        return self.request(("GET %s HTTP/%s\r\nHost: app.test\r\n%s\r\n"
                             % (path, version, extra)).encode())

    def info(self, resp):
        self.assertEqual(resp.status, 200, resp.body)
        return json.loads(resp.body)

    # -- bodies ------------------------------------------------------------

    def test_response_framings_reach_both_client_versions(self):
        """Content-Length, chunked and close-delimited bodies, to an
        HTTP/1.1 and an HTTP/1.0 client, arrive whole (checksums); HEAD
        has no body."""
        b = self.backend()
        self.start([b.addr])
        n = 3 * 1024 * 1024 + 17
        for mode in ("cl", "chunked", "close"):
            for version in ("1.1", "1.0"):
                r = self.get("/gen/%s/%d" % (mode, n), version)
                self.assertEqual((r.status, r.length, r.crc),
                                 (200, n, pattern_crc(n)),
                                 (mode, version, r.fields))
                if version == "1.0":
                    self.assertNotIn("transfer-encoding", r.names())
            r = self.request(b"HEAD /gen/%s/%d HTTP/1.1\r\nHost: t\r\n\r\n"
                             % (mode.encode(), n), head_request=True)
            self.assertEqual(r.status, 200)
            if mode == "cl":
                self.assertEqual(r.header("content-length"), str(n))

    def test_request_bodies_content_length_and_chunked(self):
        b = self.backend()
        self.start([b.addr])
        body = PATTERN[:300001]
        r = self.info(self.request(
            b"POST /info HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body))
        self.assertEqual((r["method"], r["body_len"], r["body_crc"]),
                         ("POST", len(body), zlib.crc32(body)))
        self.assertIn(["Content-Length", str(len(body))], r["headers"])
        raw = b"PUT /info HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked" \
              b"\r\n\r\n"
        for i in range(0, len(body), 70000):
            piece = body[i:i + 70000]
            raw += b"%x\r\n" % len(piece) + piece + b"\r\n"
        r = self.info(self.request(raw + b"0\r\n\r\n"))
        self.assertEqual((r["method"], r["body_len"], r["body_crc"]),
                         ("PUT", len(body), zlib.crc32(body)))
        self.assertIn(["Transfer-Encoding", "chunked"], r["headers"])

    def _rss_during(self, worker, work):
        """The worker's largest VmRSS (KiB) sampled while work() runs."""
        peak = [vm_kib(worker)]
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], vm_kib(worker))
        t = threading.Thread(target=sample)
        t.start()
        try:
            work()
        finally:
            done.set()
            t.join()
        return peak[0]

    def test_big_upload_and_download_keep_rss_bounded(self):
        """1 GiB (256 MiB under the sanitizers) each way through the
        proxy: the worker's RSS stays within 64 MiB of what it was."""
        b = self.backend()
        self.start([b.addr])
        worker = self.d.workers()[0]
        self.get("/info")           # warm: buffers of a first request
        base = vm_kib(worker)
        result = {}

        def upload():
            s, r = self.conn()
            s.sendall(b"POST /info HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Length: %d\r\n\r\n" % BIG)
            left = BIG
            while left > 0:
                piece = PATTERN[:min(left, len(PATTERN))]
                s.sendall(piece)
                left -= len(piece)
            result["up"] = self.info(read_response(r))
            s.close()

        def download():
            result["down"] = self.get("/gen/cl/%d" % BIG)
        peak = self._rss_during(worker, upload)
        self.assertEqual((result["up"]["body_len"], result["up"]["body_crc"]),
                         (BIG, pattern_crc(BIG)))
        peak = max(peak, self._rss_during(worker, download))
        r = result["down"]
        self.assertEqual((r.status, r.length, r.crc),
                         (200, BIG, pattern_crc(BIG)))
        self.assertLess(peak - base, 64 * 1024,
                        "worker RSS from %d KiB to %d KiB" % (base, peak))

    # -- header fields -----------------------------------------------------

    def test_hop_by_hop_fields_are_stripped_both_ways(self):
        b = self.backend()
        self.start([b.addr])
        r = self.info(self.get(
            "/info", extra="Connection: keep-alive, X-Private\r\n"
            "X-Private: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: X\r\n"
            "Upgrade: h2c\r\nProxy-Authorization: x\r\nX-Other: kept\r\n"))
        sent = [k.lower() for k, _ in r["headers"]]
        for name in ("x-private", "keep-alive", "te", "trailer", "upgrade",
                     "proxy-authorization"):
            self.assertNotIn(name, sent)
        self.assertIn("x-other", sent)
        self.assertNotIn("connection", sent)
        resp = self.get("/hop")
        self.assertEqual((resp.status, resp.body), (200, b"ok"))
        for name in ("x-secret", "keep-alive", "proxy-thing", "trailer",
                     "upgrade"):
            self.assertNotIn(name, resp.names())
        self.assertEqual(resp.header("x-kept"), "yes")
        self.assertEqual(resp.header("via"), "1.1 drover")

    def test_forwarding_fields_and_host(self):
        b = self.backend()
        self.start([b.addr])
        r = self.info(self.get(
            "/info?q=1", extra="X-Forwarded-For: 203.0.113.7\r\n"
            "Forwarded: for=203.0.113.7\r\nVia: 1.0 edge\r\n"
            "X-Forwarded-Proto: https\r\n"))
        h = {}
        for k, v in r["headers"]:
            h.setdefault(k.lower(), []).append(v)
        self.assertEqual(r["target"], "/info?q=1")
        self.assertEqual(h["host"], ["app.test"])
        self.assertEqual(h["x-forwarded-for"], ["203.0.113.7, 127.0.0.1"])
        self.assertEqual(h["x-forwarded-proto"], ["http"])
        self.assertEqual(h["x-forwarded-host"], ["app.test"])
        self.assertEqual(h["forwarded"], [
            'for=203.0.113.7, for=127.0.0.1;proto=http;host="app.test"'])
        self.assertEqual(h["via"], ["1.0 edge, 1.1 drover"])
        self.assertEqual(r["version"], "HTTP/1.1")

    @unittest.skipUnless(ipv6_loopback_available(), "no ::1")
    def test_forwarded_quotes_an_ipv6_client(self):
        b = self.backend()
        self.start([b.addr], listen='"[::1]:0"')
        s = socket.create_connection(("::1", self.port), timeout=30)
        s.sendall(b"GET /info HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")
        r = self.info(read_response(Reader(s)))
        s.close()
        h = {k.lower(): v for k, v in r["headers"]}
        self.assertEqual(h["forwarded"],
                         'for="[::1]";proto=http;host="[::1]:8080"')
        self.assertEqual(h["x-forwarded-for"], "::1")

    def test_access_log_has_the_status_and_bytes(self):
        b = self.backend()
        self.start([b.addr])
        self.assertEqual(self.get("/gen/chunked/12345").length, 12345)
        self.assertEqual(self.get("/gen/cl/777").length, 777)
        log = os.path.join(self.d.dir, "access.log")
        wait_for(lambda: os.path.exists(log) and re.search(
            r'"GET /gen/cl/777 HTTP/1.1" 200 777 ', open(log).read()),
            what="the access log line")
        self.assertRegex(open(log).read(),
                         r'"GET /gen/chunked/12345 HTTP/1.1" 200 12345 ')

    def test_a_body_gone_bad_after_the_response_began_is_logged(self):
        """The upstream answers early; the client's next chunk is not
        hex: the connection closes, and the request still has its line
        with the status already sent."""
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(8)
        self.addCleanup(lst.close)
        done = threading.Event()
        self.addCleanup(done.set)

        def backend():
            c, _ = lst.accept()
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      b"\r\n5\r\nhello\r\n")
            done.wait(30)
            c.close()
        threading.Thread(target=backend, daemon=True).start()
        self.start(["127.0.0.1:%d" % lst.getsockname()[1]])
        s, r = self.conn()
        s.sendall(b"POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                  b"chunked\r\n\r\n4\r\nxxxx\r\n")
        got = b""
        while b"hello" not in got:
            got += s.recv(4096)
        s.sendall(b"zz-not-hex\r\n")
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        log = os.path.join(self.d.dir, "access.log")
        wait_for(lambda: os.path.exists(log) and
                 '"POST /bad HTTP/1.1" 200 ' in open(log).read(),
                 what="the request's access log line")

    def test_proxy_header_to_the_upstream_carries_the_client(self):
        """proxy_protocol = v1: each upstream connection starts with the
        client's address and the address it came to."""
        b = self.backend(mode="pp")
        self.start([b.addr], more="proxy_protocol = v1")
        s, r = self.conn()
        s.sendall(b"GET /info HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(read_response(r).status, 200)
        s.sendall(b"GET /info HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(read_response(r).status, 200)
        client = s.getsockname()[1]
        s.close()
        self.assertEqual(b.proxy_lines, [
            "PROXY TCP4 127.0.0.1 127.0.0.1 %d %d" % (client, self.port)] * 2)

    def test_connection_cannot_drop_framing_or_host(self):
        """A client's Connection naming Content-Length, Transfer-Encoding
        or Host takes none of them away upstream: the body stays framed
        (else it would be a request of its own)."""
        b = self.backend()
        self.start([b.addr])
        smuggled = b"GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n"
        s, r = self.conn()
        s.sendall(b"POST /info HTTP/1.1\r\nHost: t\r\nConnection: "
                  b"Content-Length, Host\r\nContent-Length: %d\r\n\r\n"
                  % len(smuggled) + smuggled)
        info = self.info(read_response(r))
        s.sendall(b"PUT /info HTTP/1.1\r\nHost: t\r\nConnection: "
                  b"Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")
        chunked = self.info(read_response(r))
        s.close()
        self.assertEqual((info["body_len"], info["body_crc"]),
                         (len(smuggled), zlib.crc32(smuggled)))
        self.assertIn(["Content-Length", str(len(smuggled))],
                      info["headers"])
        self.assertIn(["Host", "t"], info["headers"])
        self.assertEqual((chunked["body_len"], chunked["body_crc"]),
                         (5, zlib.crc32(b"hello")))
        self.assertIn(["Transfer-Encoding", "chunked"], chunked["headers"])
        self.assertEqual([t for _, t in b.heads], ["/info", "/info"])

    def test_upgrade_only_for_get_in_http_1_1(self):
        """Upgrade is passed on for a GET in HTTP/1.1 only: a HEAD (its
        101 would tunnel) or an HTTP/1.0 request (which must ignore it)
        goes up as a plain request."""
        b = self.backend()
        self.start([b.addr])
        up = (b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
        r = self.request(b"HEAD /ws HTTP/1.1\r\nHost: t\r\n" + up,
                         head_request=True)
        self.assertEqual(r.status, 200)
        r = self.info(self.request(b"GET /ws HTTP/1.0\r\nHost: t\r\n" + up))
        self.assertNotIn("upgrade", [k.lower() for k, _ in r["headers"]])
        self.assertEqual(len(b.requests), 2)
        for q in b.requests:
            self.assertNotIn("upgrade", [k.lower() for k, _ in q["headers"]])

    def test_no_host_to_a_unix_socket_server_is_localhost(self):
        """An HTTP/1.0 request without Host, to a unix socket server:
        the upstream gets Host: localhost (a path is no host)."""
        tmp = tempfile.mkdtemp(prefix="drover-test-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        b = self.backend(unix=os.path.join(tmp, "app.sock"))
        self.start([b.addr])
        r = self.info(self.request(b"GET /info HTTP/1.0\r\n\r\n"))
        h = {k.lower(): v for k, v in r["headers"]}
        self.assertEqual(h["host"], "localhost")

    def test_interim_responses_are_skipped(self):
        """A 100 and a 103 before the final head, each read on its own:
        the client gets the final response, and the connection, kept,
        serves the next request with its own response."""
        b = self.backend(mode="interim")
        self.start([b.addr])
        for path in ("/info?first", "/info?second"):
            resp = self.request(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n"
                                % path.encode())
            self.assertEqual(self.info(resp)["target"], path)
        self.assertEqual(b.connections, 1)

    def test_response_framing_that_cannot_be_trusted_is_502(self):
        """Content-Length with Transfer-Encoding, or chunked in HTTP/1.0
        (RFC 9112 6.1, 6.3): 502, and the connection is not kept."""
        for mode, cause in (("clte", "both Content-Length and "
                             "Transfer-Encoding"),
                            ("te10", "Transfer-Encoding in an HTTP/1.0 "
                             "response")):
            b = self.backend(mode=mode)
            self.start([b.addr])
            self.assertEqual(self.get("/x").status, 502)
            self.assertEqual(self.get("/x").status, 502)
            self.assertEqual(b.connections, 2)
            self.d.wait_log(r"upstream app: %s: GET failed: %s"
                            % (re.escape(b.addr), cause))

    def test_bytes_past_the_response_are_not_kept(self):
        """Bytes after the framed end of a response: the connection is
        closed, so they never become the next request's response."""
        b = self.backend(mode="surplus")
        self.start([b.addr])
        for _ in range(2):
            r = self.get("/x")
            self.assertEqual((r.status, r.body), (200, b"ok"))
        self.assertEqual(b.connections, 2)

    def test_a_slow_steady_upload_is_no_read_timeout(self):
        """An upload that takes longer than read_timeout but never stops
        for long: read_timeout only counts once the request is sent."""
        b = self.backend()
        self.start([b.addr], read_timeout=1)
        s, r = self.conn()
        n = 10
        s.sendall(b"POST /info HTTP/1.1\r\nHost: t\r\nContent-Length: %d"
                  b"\r\n\r\n" % (n * 100))
        for _ in range(n):      # a slow client: 3 s in all
            time.sleep(0.3)
            s.sendall(b"x" * 100)
        info = self.info(read_response(r))
        s.close()
        self.assertEqual(info["body_len"], n * 100)

    def test_an_early_response_says_connection_close(self):
        """The upstream answers before the body was all sent: the client
        is told the connection closes (its body is not read on)."""
        b = self.backend(mode="early")
        self.start([b.addr])
        s, r = self.conn()
        s.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000"
                  b"\r\n\r\n" + b"a" * 1000)
        resp = read_response(r)
        s.close()
        self.assertEqual((resp.status, resp.body), (403, b"no\n"))
        self.assertEqual(resp.header("connection"), "close")

    # -- errors ------------------------------------------------------------

    def test_502_when_the_upstream_is_dead(self):
        b = self.backend()
        dead = b.addr
        b.stop()
        self.backends.remove(b)
        self.start([dead], retry_wait=0)
        self.assertEqual(self.get("/x").status, 502)
        self.d.wait_log(r"upstream app: %s: GET failed: connect: "
                        r"Connection refused" % re.escape(dead))

    def test_502_when_the_upstream_closes_before_the_head(self):
        b = self.backend(mode="closehead")
        self.start([b.addr])
        self.assertEqual(self.get("/x").status, 502)
        self.d.wait_log(r"upstream app: %s: GET failed: closed before a "
                        r"whole response head" % re.escape(b.addr))

    def test_many_failing_at_once_each_get_502(self):
        """70 POSTs in flight, then the backend closes them all unanswered:
        each is a 502. More than the handler keeps for reuse (64) end at
        once, so some of their states are freed as they fail (under ASan a
        use after free aborts the worker here)."""
        n = 70
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(256)
        self.addCleanup(lst.close)
        held = []

        def backend():
            while len(held) < n:
                try:
                    c, _ = lst.accept()
                except OSError:
                    return
                c.settimeout(30)
                buf = b""
                while not buf.endswith(b"xxxx"):
                    d = c.recv(65536)
                    if not d:
                        break
                    buf += d
                held.append(c)
            for c in held:
                c.close()
        threading.Thread(target=backend, daemon=True).start()
        self.start(["127.0.0.1:%d" % lst.getsockname()[1]])
        got = []

        def client():
            try:
                r = self.request(b"POST / HTTP/1.1\r\nHost: a\r\n"
                                 b"Content-Length: 4\r\n\r\nxxxx")
                got.append(r.status)
            except (OSError, EOFError) as e:
                got.append(repr(e))
        ts = [threading.Thread(target=client, daemon=True)
              for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(got, [502] * n)
        self.assertEqual(len(self.d.workers()), 1)

    def test_502_for_a_bad_response_head(self):
        b = self.backend(mode="bad")
        self.start([b.addr])
        r = self.get("/x")
        self.assertEqual(r.status, 502)
        self.assertNotIn(b"ok", r.body)
        self.d.wait_log(r"upstream app: %s: GET failed: a bad header field"
                        % re.escape(b.addr))

    def test_a_body_cut_off_closes_the_client_connection(self):
        """The upstream closes after the head went to the client: the
        client sees the body end short and the connection close."""
        b = self.backend(mode="cut")
        self.start([b.addr])
        s, r = self.conn()
        s.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        head = r.until(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 1000", head)
        body = r.buf
        while True:
            data = s.recv(65536)
            if not data:
                break
            body += data
        s.close()
        self.assertEqual(body, b"x" * 10)
        self.d.wait_log(r"upstream app: %s: GET response cut off: closed "
                        r"before the end of the body" % re.escape(b.addr))

    def test_504_on_read_timeout(self):
        b = self.backend(mode="hang")
        self.start([b.addr], read_timeout=1)
        s, r = self.conn()
        s.settimeout(30)
        s.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(read_response(r).status, 504)
        s.close()
        self.d.wait_log(r"upstream app: %s: GET failed: read timed out"
                        % re.escape(b.addr))

    def test_503_when_the_health_check_has_every_server_down(self):
        b = self.backend(mode="unhealthy")
        self.start([b.addr], retry_wait=1,
                   more='health_check = "/healthz"\n    health_interval = 1')
        wait_for(lambda: any(q["target"] == "/healthz" for q in b.requests),
                 what="a health check")
        wait_for(lambda: self.get("/x").status == 503, what="a 503")
        self.d.wait_log(r"upstream app: [^ ]+: GET failed: every server is "
                        r"down, retry_wait ran out")

    def test_retries_idempotent_requests_on_another_server(self):
        """One backend closes every connection after reading the request:
        a GET goes on to the other; a POST, sent once, is a 502."""
        bad = self.backend(mode="drop")
        good = self.backend()
        self.start([bad.addr, good.addr], more="max_fails = 100")
        for i in range(4):
            self.assertEqual(self.get("/info").status, 200)
        self.assertGreater(len(bad.requests), 0)   # it was tried
        statuses = [self.request(b"POST /info HTTP/1.1\r\nHost: t\r\n"
                                 b"Content-Length: 2\r\n\r\nhi").status
                    for _ in range(4)]
        self.assertIn(502, statuses)
        self.assertIn(200, statuses)
        self.d.wait_log(r"upstream app: %s: closed before a whole response "
                        r"head, trying another server" % re.escape(bad.addr))

    def test_keepalive_connections_are_reused(self):
        b = self.backend()
        self.start([b.addr])
        for i in range(20):
            self.assertEqual(self.get("/info").status, 200)
        s, r = self.conn()
        for i in range(20):
            s.sendall(b"GET /gen/chunked/1000 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(read_response(r).length, 1000)
        s.close()
        self.assertEqual(b.connections, 1)
        self.assertEqual(len(b.requests), 40)

    def test_a_dead_kept_connection_is_retried_on_a_new_one(self):
        """The server closes a kept connection as the next request comes
        (the race of keep-alive): an idempotent request (without a body,
        or with one small enough to be sent whole with the head) goes
        again on a new connection and succeeds."""
        b = self.backend(mode="oneshot")
        self.start([b.addr])
        for i in range(3):
            self.assertEqual(self.get("/info").status, 200)
        r = self.request(b"HEAD /info HTTP/1.1\r\nHost: t\r\n\r\n",
                         head_request=True)
        self.assertEqual(r.status, 200)
        r = self.request(b"DELETE /info HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(r.status, 200)
        # a small body went out whole with the head: it goes again
        body = PATTERN[:1000]
        r = self.info(self.request(b"PUT /info HTTP/1.1\r\nHost: t\r\n"
                                   b"Content-Length: 1000\r\n\r\n" + body))
        self.assertEqual((r["body_len"], r["body_crc"]),
                         (1000, zlib.crc32(body)))
        r = self.info(self.request(
            b"PUT /info HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
            b"chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
        self.assertEqual((r["body_len"], r["body_crc"]),
                         (5, zlib.crc32(b"hello")))
        self.assertEqual(b.connections, 7)
        self.assertNotIn("failed", self.d.log())

    def test_a_post_is_never_sent_twice(self):
        """A POST sent on a kept connection that dies before any byte of
        a response may have been acted on: it is a 502, never sent on
        another connection."""
        b = self.backend(mode="oneshot")
        self.start([b.addr])
        s, r = self.conn()
        s.sendall(b"GET /info HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(read_response(r).status, 200)
        s.sendall(b"POST /pay HTTP/1.1\r\nHost: t\r\nContent-Length: 7"
                  b"\r\n\r\ncharge1")
        self.assertEqual(read_response(r).status, 502)
        s.close()
        self.assertEqual([h for h in b.heads if h[0] == "POST"],
                         [("POST", "/pay")])
        self.d.wait_log(r"upstream app: %s: POST failed: .*\(a POST is not "
                        r"sent twice\)" % re.escape(b.addr))

    def test_a_post_takes_only_a_recently_used_kept_connection(self):
        """A kept connection idle for more than a second (which the server
        may be closing just then) is not given to a POST: it goes on a
        new connection, once."""
        b = self.backend(mode="oneshot")
        self.start([b.addr])
        self.assertEqual(self.get("/info").status, 200)
        # the idle time is what is tested: the kept connection must be
        # older than the POST's limit (1 s) when the POST comes
        time.sleep(1.2)
        r = self.info(self.request(b"POST /info HTTP/1.1\r\nHost: t\r\n"
                                   b"Content-Length: 2\r\n\r\nhi"))
        self.assertEqual((r["method"], r["body_len"]), ("POST", 2))
        self.assertEqual([h for h in b.heads if h[0] == "POST"],
                         [("POST", "/info")])
        self.assertEqual(b.connections, 2)

    def test_backend_restart_within_retry_wait(self):
        """The only backend stops; requests sent meanwhile wait inside
        drover (read by it, refused upstream, unanswered), and all
        succeed once it is back."""
        b = self.backend()
        port = b.port
        self.start([b.addr], retry_wait=20, log_level="debug")
        self.assertEqual(self.get("/info").status, 200)
        b.stop()
        self.backends.remove(b)
        refused = r"upstream app: %s: connect: Connection refused" % \
            re.escape(b.addr)
        socks = []
        try:
            for _ in range(8):
                s, r = self.conn()
                s.sendall(b"GET /info HTTP/1.1\r\nHost: t\r\n\r\n")
                socks.append((s, r))
            # each request is inside drover: read from its socket, not
            # answered, and the backend refused a connect since
            wait_for(lambda: all(server_queues(self.port, s) == (0, 0) and
                                 unread(s) == 0 for s, _ in socks),
                     what="drover to have read every request")
            self.d.wait_log(refused)
            self.assertTrue(all(unread(s) == 0 for s, _ in socks))
            self.backend(port=port)
            results = [read_response(r).status for _, r in socks]
        finally:
            for s, _ in socks:
                s.close()
        self.assertEqual(results, [200] * 8)

    # -- WebSocket -----------------------------------------------------------

    def ws_connect(self):
        s, r = self.conn()
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: "
                  b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"
                  b"\r\n\r\n")
        resp = read_response(r)
        self.assertEqual(resp.status, 101)
        self.assertEqual(resp.header("sec-websocket-accept"),
                         "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        self.assertEqual(resp.header("upgrade").lower(), "websocket")
        return s, r

    def ws_echo(self, s, r, payload):
        s.sendall(ws_frame(2, payload, mask=b"\x01\x02\x03\x04"))
        return ws_read(r)

    def test_websocket_tunnel_survives_a_reload(self):
        b = self.backend()
        self.start([b.addr])
        old = self.d.workers()
        s, r = self.ws_connect()
        self.assertEqual(self.ws_echo(s, r, b"before"), (2, b"before"))
        self.d.signal(signal.SIGHUP)
        self.d.wait_log(r"reload done: generation 2 serves")
        wait_for(lambda: set(self.d.workers()) - set(old),
                 what="a new worker")
        self.assertTrue(set(old) & set(self.d.workers()),
                        "the old worker keeps the tunnel")
        big = PATTERN[:200000]
        self.assertEqual(self.ws_echo(s, r, b"after"), (2, b"after"))
        self.assertEqual(self.ws_echo(s, r, big), (2, big))
        s.sendall(ws_frame(8, b"", mask=b"\x00\x00\x00\x00"))
        self.assertEqual(ws_read(r)[0], 8)
        s.close()
        wait_for(lambda: not set(old) & set(self.d.workers()),
                 what="the old worker to exit once the tunnel ended")

    def test_websocket_frame_sent_with_the_handshake(self):
        """A frame that came in the same packet as the handshake waits
        in drover's buffer and goes up after the 101."""
        b = self.backend()
        self.start([b.addr])
        s, r = self.conn()
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: "
                  b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"
                  b"\r\n\r\n" + ws_frame(1, b"early", mask=b"abcd"))
        self.assertEqual(read_response(r).status, 101)
        self.assertEqual(ws_read(r), (1, b"early"))
        s.close()

    # -- reloads -------------------------------------------------------------

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_reloads_under_load_lose_nothing(self):
        b = self.backend()
        self.start([b.addr], workers=2)
        url = "http://%s:%d/info" % (self.host, self.port)
        done = self.d.log().count("reload done")
        for extra in (["-H", "Connection: close"], []):
            res, fired = wrk_during(
                url, lambda: self.d.signal(signal.SIGHUP), extra,
                conns=16, settled=lambda n: self.d.log().count(
                    "reload done") >= done + n)
            done = self.d.log().count("reload done")
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertGreater(fired, 4)
            self.assertNotIn("Socket errors", res.stdout, res.stdout)
            self.assertNotIn("Non-2xx", res.stdout, res.stdout)


if __name__ == "__main__":
    main()
