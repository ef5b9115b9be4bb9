"""A port that stays ours: a socket that another process (same user, or
root) binds with SO_REUSEPORT on one of drover's listen addresses joins
its reuseport group and takes a share of the traffic. The master checks
every few seconds, logs the socket with the pid of its holder, lists it in
`drover -s status`, and counts it in the drover_foreign_sockets gauge,
which goes back to 0 once the socket is closed. drover's own sockets,
including those its workers open at start-up and after a reload, are
never told."""

import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, DroverTest, free_port, main,  # noqa: E402
                       run, wait_for)
from httplib_raw import get, request  # noqa: E402

# The master looks every 3 s and tells a socket the second time it finds
# it (so that a worker's new listener, in flight to the master, is never
# taken for a foreign one): at most 6 s, and slack for a loaded machine.
DETECT = 10

WEB = """
server web {
    listen = {"127.0.0.1:%(web)d"}
    protocol = http
    location "/metrics" { stats = prometheus }
}
"""

TCP = WEB + """
server echo {
    listen = {"127.0.0.1:0"}
    protocol = echo
}
"""

UDP = WEB + """
server echo_udp {
    listen = {"127.0.0.1:0"}
    protocol = udp_echo
}
"""

TOLD = r"listen 127\.0\.0\.1:%d \(%s\): a socket drover did not create " \
       r"is bound to it: pid (\d+) \((\S+)\), inode (\d+)"


class ForeignTest(DroverTest):

    def start(self, servers):
        d = self.drover(workers=2, servers=servers % dict(web=free_port()))
        d.start()
        return d

    def ctl(self, d, *args):
        r = run([DROVER, "-c", d.conf] + list(args))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def gauge(self, d):
        """drover_foreign_sockets from /metrics; None if it is not there."""
        r = request(*d.port("web"), get("/metrics",
                                        extra="Connection: close\r\n"))
        self.assertEqual(r.status, 200)
        m = re.search(r"^drover_foreign_sockets (\d+)$", r.body.decode(),
                      re.M)
        return int(m.group(1)) if m else None

    def join(self, port, udp):
        """A socket of this test process in drover's reuseport group."""
        s = socket.socket(socket.AF_INET,
                          socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", port))
        if not udp:
            s.listen(8)
        return s

    def check_told(self, d, server, udp):
        """Join server's port; the log, the status and the gauge tell
        this process's socket; once it is closed, the gauge is 0 again."""
        port = d.port(server)[1]
        transport = "udp" if udp else "tcp"
        # A reload first: its workers' new sockets are drover's own.
        self.ctl(d, "-s", "reload")
        s = self.join(port, udp)
        ino = os.fstat(s.fileno()).st_ino
        m = d.wait_log(TOLD % (port, transport), timeout=DETECT)
        self.assertEqual((int(m.group(1)), int(m.group(3))),
                         (os.getpid(), ino))
        told = re.findall(TOLD % (port, transport), d.log())
        self.assertEqual({int(p) for p, _, _ in told}, {os.getpid()},
                         "only the test's socket is foreign")

        st = json.loads(self.ctl(d, "-s", "status", "-j"))
        self.assertEqual(st["foreign"], [{
            "address": "127.0.0.1:%d" % port, "transport": transport,
            "inode": ino, "pid": os.getpid(), "comm": m.group(2)}])
        self.assertIn("foreign     listen 127.0.0.1:%d (%s): pid %d (%s), "
                      "inode %d\n" % (port, transport, os.getpid(),
                                      m.group(2), ino),
                      self.ctl(d, "-s", "status"))
        wait_for(lambda: self.gauge(d) == 1, timeout=DETECT,
                 what="drover_foreign_sockets 1 (have %s)" % self.gauge(d))

        s.close()
        wait_for(lambda: self.gauge(d) == 0, timeout=DETECT,
                 what="drover_foreign_sockets 0 (have %s)" % self.gauge(d))
        d.wait_log(r"listen 127\.0\.0\.1:%d \(%s\): the foreign socket "
                   r"\(inode %d\) has gone" % (port, transport, ino))
        st = json.loads(self.ctl(d, "-s", "status", "-j"))
        self.assertEqual(st["foreign"], [])

    def test_tcp_listener_in_the_group_is_told(self):
        d = self.start(TCP)
        self.check_told(d, "echo", udp=False)

    def test_udp_socket_in_the_group_is_told(self):
        d = self.start(UDP)
        self.check_told(d, "echo_udp", udp=True)

    def test_another_address_on_the_port_is_not_ours_to_tell(self):
        """A listener on 127.0.0.2 with the same port number shares no
        traffic with 127.0.0.1's group: not told."""
        d = self.start(TCP)
        port = d.port("echo")[1]
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(("127.0.0.2", port))
            other.listen(8)
            # A socket that is told, on the same port, after the other:
            # by the time it is, the other was looked at twice.
            s = self.join(port, udp=False)
            d.wait_log(TOLD % (port, "tcp"), timeout=DETECT)
            st = json.loads(self.ctl(d, "-s", "status", "-j"))
            self.assertEqual([f["inode"] for f in st["foreign"]],
                             [os.fstat(s.fileno()).st_ino])


if __name__ == "__main__":
    main()
