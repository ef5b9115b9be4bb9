"""A dead worker's queued connections are served while the master cannot
run: its live sibling takes the dead one's listener over by itself (the
master gave it a copy and a pidfd of the sibling when both were ready)."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, main, pid_alive,  # noqa: E402
                       wait_for)
from httplib_raw import get, request  # noqa: E402

SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/hello" { return = "200 Hello, World!" }
}
"""


class SiblingTest(DroverTest):

    def test_dead_sibling_served_while_master_is_stopped(self):
        self.served_while_master_is_stopped(2)

    def test_three_workers(self):
        self.served_while_master_is_stopped(3)

    def served_while_master_is_stopped(self, n):
        d = self.drover(workers=n, servers=SERVER)
        d.start()
        host, port = d.port("web")
        victim, *survivors = d.wait_workers(n)
        d.signal(signal.SIGSTOP)
        try:
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: not pid_alive(victim), what="the worker to die")
            # The kernel spreads new connections over both listeners: half
            # of these land in the dead worker's, which only the survivor
            # can accept on now. (The timeout only guards against a hang.)
            for i in range(40):
                r = request(host, port, get("/hello"), timeout=TIMEOUT)
                self.assertEqual((r.status, r.body), (200, b"Hello, World!"),
                                 "connection %d" % i)
            # A sibling took the dead worker's listener over by itself.
            d.wait_log(r"worker %d \(slot \d\) has exited: accepting on "
                       r"its 1 listeners" % victim)
            self.assertTrue(all(pid_alive(p) for p in survivors))
        finally:
            d.signal(signal.SIGCONT)
        new = d.wait_workers(n, exclude=[victim])
        self.assertTrue(set(survivors) <= set(new))
        d.wait_log(r"worker %d \(generation 1, slot \d\) killed by signal 9"
                   % victim)
        r = request(host, port, get("/hello"))
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    main()
