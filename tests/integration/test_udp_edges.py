#!/usr/bin/env python3
"""UDP sockets that nobody would read: each datagram must still be
answered after a UDP server leaves and comes back while an older
generation drains, and after a reload that adds workers fails."""

import os
import select
import signal
import socket
import subprocess
import time

from droverlib import DROVER, DroverTest, free_port, main, wait_for

ANSWER_WAIT = 15.0      # a bound for a broken build, not a speed


def unanswered(port, n=300):
    """Send one datagram from each of n sockets (so the kernel's hash
    spreads them over every socket of the group) and count those that get
    no answer: a datagram in a socket nobody reads never does."""
    socks = []
    try:
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            s.sendto(b"%d" % i, ("127.0.0.1", port))
            socks.append(s)
        waiting = set(socks)
        deadline = time.monotonic() + ANSWER_WAIT
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(waiting), [], [], left)
            for s in ready:
                s.recv(100)
                waiting.discard(s)
        return len(waiting)
    finally:
        for s in socks:
            s.close()


class UdpEdgesTest(DroverTest):

    def udp(self, port):
        return ('server u {\n listen = {"127.0.0.1:%d"}\n'
                ' protocol = udp_echo\n}\n' % port)

    def test_server_back_while_its_old_generation_drains(self):
        pu = free_port(udp=True)
        tcp = 'server e {\n listen = {"127.0.0.1:0"}\n protocol = echo\n}\n'
        d = self.drover(workers=2, servers=self.udp(pu) + tcp,
                        shutdown_timeout=40)
        d.start()
        d.wait_workers(2)
        self.assertEqual(unanswered(pu, 50), 0)
        gen1 = d.workers()
        os.kill(gen1[0], signal.SIGSTOP)    # generation 1 keeps draining
        try:
            d.write_conf(d.conf_text(servers=tcp))
            d.signal(signal.SIGHUP)
            wait_for(lambda: d.log().count("reload done") >= 1,
                     what="the reload without the UDP server")
            d.write_conf(d.conf_text(servers=self.udp(pu) + tcp))
            d.signal(signal.SIGHUP)
            wait_for(lambda: d.log().count("reload done") >= 2,
                     what="the reload with it again")
        finally:
            os.kill(gen1[0], signal.SIGKILL)
        wait_for(lambda: "generation 1 has ended" in d.log(),
                 what="generation 1 to end")
        self.assertEqual(unanswered(pu), 0)

    def test_failed_reload_that_added_workers(self):
        pu = free_port(udp=True)
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        bad = ('server b {\n listen = {"127.0.0.1:%d"}\n protocol = echo\n'
               '}\n' % busy.getsockname()[1])
        d = self.drover(workers=2, servers=self.udp(pu))
        d.start()
        d.wait_workers(2)
        d.write_conf(d.conf_text(workers=4, servers=self.udp(pu) + bad))
        r = subprocess.run([DROVER, "-c", d.conf, "-s", "reload"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("address already in use", r.stderr)
        self.assertEqual(unanswered(pu), 0)


if __name__ == "__main__":
    main()
