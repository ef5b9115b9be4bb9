"""Hostile requests and odd files under a root, against the real daemon
(issue 13): If-Range, Transfer-Encoding lists, invalid Host, the Location
of the trailing-slash redirect, and devices, FIFOs and sockets under the
root."""

import os
import socket
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import DroverTest, main  # noqa: E402
from httplib_raw import Conn, get, request  # noqa: E402
from test_http import HTTP_SERVER, IS_ROOT, make_site  # noqa: E402


class HardeningTest(DroverTest):

    def web(self, prepare=None):
        """Start one worker on the site of test_http; prepare(www) adds
        files before it starts."""
        d = self.drover(workers=1, servers="")
        www = make_site(d.dir)
        if prepare is not None:
            prepare(www)
        d.params["extra"] = ('user = "nobody"\ngroup = "nogroup"\n'
                             if IS_ROOT else "")
        d.params["servers"] = HTTP_SERVER % dict(
            dir=d.dir, header_timeout=10, keepalive_timeout=75,
            defer_accept="false", max_connections=1000)
        d.write_conf()
        d.start()
        self.host, self.port = d.port("web")
        return d

    def req(self, raw):
        return request(self.host, self.port, raw)

    def ranged(self, path, if_range, rng="bytes=0-4"):
        return self.req(get(path, extra="Range: %s\r\nIf-Range: %s\r\n"
                            % (rng, if_range)))

    # -- If-Range (RFC 9110 section 13.1.5) -------------------------------

    def test_if_range(self):
        def future(www):
            # Modified "after" the Date the server sends: its
            # Last-Modified is a weak validator.
            p = os.path.join(www, "future.txt")
            with open(p, "wb") as f:
                f.write(b"from the future\n")
            t = time.time() + 3600
            os.utime(p, (t, t))

        self.web(future)
        whole = b"hello, file\n"
        r = self.req(get("/hello.txt"))
        etag, lm = r.header("etag"), r.header("last-modified")
        r = self.ranged("/hello.txt", etag)
        self.assertEqual((r.status, r.body), (206, b"hello"))
        r = self.ranged("/hello.txt", lm)
        self.assertEqual((r.status, r.body), (206, b"hello"))
        for stale in ('"0-0"', "W/" + etag, etag + "x",
                      "Sat, 01 Jan 2000 00:00:00 GMT", "not a validator"):
            r = self.ranged("/hello.txt", stale)
            self.assertEqual((r.status, r.body), (200, whole), stale)
            self.assertIsNone(r.header("content-range"), stale)
        # An unsatisfiable Range for another version: ignored too.
        r = self.ranged("/hello.txt", '"0-0"', rng="bytes=50-60")
        self.assertEqual((r.status, r.body), (200, whole))
        r = self.req(get("/future.txt"))
        r = self.ranged("/future.txt", r.header("last-modified"))
        self.assertEqual((r.status, r.body), (200, b"from the future\n"))
        r = self.ranged("/future.txt",
                        self.req(get("/future.txt")).header("etag"))
        self.assertEqual((r.status, r.body), (206, b"from "))

    # -- Transfer-Encoding and Host ---------------------------------------

    def test_transfer_encoding_list_501_closes(self):
        self.web()
        for te in ("gzip, chunked", "identity, chunked", "chunked,",
                   ", chunked"):
            c = Conn(self.host, self.port)
            c.send(("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: %s"
                    "\r\n\r\n0\r\n\r\n" % te).encode())
            self.assertEqual(c.read_response().status, 501, te)
            self.assertTrue(c.closed_by_server(), te)
            c.close()

    def test_invalid_host_400(self):
        self.web()
        for host in ("a b", "a/b", "..", "[::1", "a:80x"):
            self.assertEqual(self.req(get("/hello.txt", host=host)).status,
                             400, host)
        for host in ("t", "127.0.0.1:80", "[::1]:8080", "example.org."):
            self.assertEqual(self.req(get("/hello.txt", host=host)).status,
                             200, host)

    # -- the trailing-slash redirect -------------------------------------

    def test_redirect_location_escaped(self):
        def dirs(www):
            os.mkdir(os.path.join(www, "d\r\nSet-Cookie: x=1"))
            os.mkdir(os.path.join(www, "a%b c\"<"))

        self.web(dirs)
        r = self.req(get("/d%0D%0ASet-Cookie:%20x=1?q=1"))
        self.assertEqual(r.status, 301)
        self.assertIsNone(r.header("set-cookie"))
        self.assertEqual(r.header("location"),
                         "/d%0D%0ASet-Cookie:%20x=1/?q=1")
        r = self.req(get("/a%25b%20c%22%3C"))
        self.assertEqual((r.status, r.header("location")),
                         (301, "/a%25b%20c%22%3C/"))

    # -- what is neither a regular file nor a directory ------------------

    def assert_forbidden_quietly(self, d, names):
        for name in names:
            r = self.req(get("/" + name))
            self.assertEqual(r.status, 403, name)
        # The worker is not stuck on any of them, and said nothing.
        self.assertEqual(self.req(get("/hello.txt")).status, 200)
        self.assertNotIn("static", d.log())

    def test_fifo_and_socket_forbidden(self):
        socks = []

        def special(www):
            os.mkfifo(os.path.join(www, "fifo"), 0o666)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(os.path.join(www, "sock"))
            os.chmod(os.path.join(www, "sock"), 0o666)
            socks.append(s)

        try:
            d = self.web(special)
            self.assert_forbidden_quietly(d, ["fifo", "sock", "fifo",
                                              "sock"])
        finally:
            for s in socks:
                s.close()

    @unittest.skipUnless(IS_ROOT, "mknod needs root")
    def test_devices_forbidden(self):
        def devices(www):
            # /dev/null, and a major no driver has: its open fails.
            for name, dev in (("null", os.makedev(1, 3)),
                              ("nodriver", os.makedev(240, 0))):
                p = os.path.join(www, name)
                os.mknod(p, stat.S_IFCHR | 0o666, dev)
                os.chmod(p, 0o666)

        d = self.web(devices)
        self.assert_forbidden_quietly(d, ["null", "nodriver", "null",
                                          "nodriver"])



NO_BODY_SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/nc" { return = "204" }
    location "/nm" { return = "304" }
    location "/hello" { return = "200 Hello, World!" }
}
"""


class NoBodyReturnTest(DroverTest):
    """return = "204" and "304": no body and no Content-Length, so the
    next response on the connection is framed right."""

    def test_204_and_304_frame_right(self):
        d = self.drover(workers=1, servers=NO_BODY_SERVER)
        d.start()
        host, port = d.port("web")
        c = Conn(host, port)
        c.send(get("/nc") + get("/nm") + get("/hello"))
        for status in (204, 304):
            r = c.read_response()
            self.assertEqual(r.status, status)
            self.assertIsNone(r.header("content-length"))
            self.assertIsNone(r.header("content-type"))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
        c.close()


if __name__ == "__main__":
    main()
