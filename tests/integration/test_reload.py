"""SIGHUP reloads: a new generation serves before the old one drains;
a broken configuration changes nothing; port 0 stays the same port."""

import os
import re
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, echo_roundtrip, main, pid_alive,  # noqa
                       run, ss_listeners, wait_for)


class ReloadTest(DroverTest):

    def test_reload_changes_worker_count(self):
        d = self.drover(workers=2)
        d.start()
        port = d.port()
        old = d.wait_workers(2)
        most = 2
        for n in (3, 1, 4):
            d.write_conf(workers=n)
            run([DROVER, "-c", d.conf, "-s", "reload"]).check_returncode()
            new = d.wait_workers(n, exclude=old)
            # Same (port 0 picked once) address, served by the new pids.
            self.assertEqual(d.port(), port)
            # Every listening socket in the group is accepted on by
            # exactly one new worker (after fewer workers, the listeners
            # of retired slots are adopted, not closed), and the master
            # keeps a copy of each, no more.
            def settled():
                rows = ss_listeners(port[1])
                kept = sorted(i for p, i in rows if p == d.master)
                served = sorted(i for p, i in rows if p in new)
                return (rows and kept == served and
                        not [p for p, _ in rows
                             if p != d.master and p not in new] and
                        set(p for p, _ in rows) - {d.master} == set(new))
            wait_for(settled, what="listeners served by the new workers")
            most = max(most, n)
            self.assertEqual(len([1 for p, _ in ss_listeners(port[1])
                                  if p == d.master]), most)
            self.assertEqual(echo_roundtrip(*port, b"n=%d" % n),
                             b"n=%d" % n)
            old = new
        self.assertRegex(d.log(), r"reload done: generation 4 serves with "
                                  r"4 workers \d+ ms after the signal; "
                                  r"draining generation 3")

    def test_broken_config_keeps_serving_unchanged(self):
        d = self.drover(workers=2)
        d.start()
        before = sorted(d.wait_workers(2))
        good = d.conf_text()
        d.write_conf(good.replace("workers = 2", "workers = 3")
                     + "\nbogus_key = 1\n")
        d.signal(signal.SIGHUP)
        m = d.wait_log(r"reload failed: (\S+):(\d+): no such option "
                       r"'bogus_key'.*generation 1 keeps serving")
        self.assertEqual(m.group(1), d.conf)
        self.assertEqual(int(m.group(2)), good.count("\n") + 2)
        self.assertEqual(sorted(d.workers()), before)
        self.assertEqual(echo_roundtrip(*d.port(), b"same"), b"same")
        # Fixed, the next reload goes through.
        d.write_conf(good.replace("workers = 2", "workers = 3"))
        d.signal(signal.SIGHUP)
        d.wait_workers(3, exclude=before)

    def test_reload_from_fifo_keeps_serving_and_stops(self):
        # A FIFO at the config path must not hang the master in open():
        # the reload fails, the workers serve, -s stop still stops it.
        d = self.drover(workers=2)
        d.start()
        before = sorted(d.wait_workers(2))
        os.unlink(d.conf)
        os.mkfifo(d.conf)
        d.signal(signal.SIGHUP)
        d.wait_log(r"reload failed: %s: not a regular file; generation 1 "
                   r"keeps serving" % re.escape(d.conf))
        self.assertEqual(sorted(d.workers()), before)
        self.assertEqual(echo_roundtrip(*d.port(), b"still"), b"still")
        d.write_conf()      # -s stop reads the pid file's path from it
        r = run([DROVER, "-c", d.conf, "-s", "stop"], timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(d.wait_exit(), 0)

    def test_reload_failing_to_bind_keeps_old_generation(self):
        d = self.drover(workers=2)
        d.start()
        before = sorted(d.wait_workers(2))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            taken = s.getsockname()[1]
            d.write_conf(listen='"127.0.0.1:0", "127.0.0.1:%d"' % taken)
            d.signal(signal.SIGHUP)
            d.wait_log(r"reload failed: .*127\.0\.0\.1:%d: address already"
                       r" in use" % taken)
        self.assertEqual(sorted(d.workers()), before)
        self.assertEqual(echo_roundtrip(*d.port(), b"ok"), b"ok")

    def test_open_connection_survives_reload(self):
        d = self.drover(workers=1)
        d.start()
        old = d.wait_workers(1)
        c = socket.create_connection(d.port(), timeout=TIMEOUT)
        c.sendall(b"before")
        self.assertEqual(c.recv(6), b"before")
        d.signal(signal.SIGHUP)
        new = d.wait_workers(2)     # the old one drains, still alive
        self.assertIn(old[0], new)
        # The new generation serves new connections ...
        self.assertEqual(echo_roundtrip(*d.port(), b"new"), b"new")
        # ... the old worker keeps its echo connection until it closes.
        c.sendall(b"after")
        self.assertEqual(c.recv(5), b"after")
        c.close()
        wait_for(lambda: not pid_alive(old[0]),
                 what="old worker to exit once its connection closed")
        d.wait_workers(1, exclude=old)

    def test_reload_adds_a_listener(self):
        d = self.drover(workers=1)
        d.start()
        first = d.port()
        d.write_conf(servers="""
server echo {
    listen = {"127.0.0.1:0"}
    protocol = echo
}
server second {
    listen = {"127.0.0.2:0"}
    protocol = echo
}
""")
        d.signal(signal.SIGHUP)
        wait_for(lambda: "second" in d.ports(), what="ports file update")
        self.assertEqual(d.port(), first)
        self.assertEqual(echo_roundtrip(*d.port("second"), b"2"), b"2")
        self.assertEqual(echo_roundtrip(*first, b"1"), b"1")

    def test_shutdown_timeout_ends_old_generation(self):
        d = self.drover(workers=1, shutdown_timeout=1)
        d.start()
        old = d.wait_workers(1)
        c = socket.create_connection(d.port(), timeout=TIMEOUT)
        c.sendall(b"x")
        self.assertEqual(c.recv(1), b"x")
        d.signal(signal.SIGHUP)
        d.wait_workers(1, exclude=old)
        self.assertEqual(c.recv(1), b"")    # closed at shutdown_timeout
        c.close()
        d.wait_log(r"shutdown_timeout \(1 s\) reached with 1 connections")

    def test_rapid_reloads_settle_on_last_config(self):
        d = self.drover(workers=2)
        d.start()
        first = d.wait_workers(2)
        for n in (3, 1, 4, 2, 3):
            d.write_conf(workers=n)
            d.signal(signal.SIGHUP)
        # Reloads that arrive while one is starting are coalesced; the
        # last configuration wins and nothing is left behind.
        wait_for(lambda: len(d.workers()) == 3 and
                 not set(d.workers()) & set(first) and
                 "reload done" in d.log() and
                 self._idle(d), what="3 workers, all new")
        self.assertEqual(echo_roundtrip(*d.port(), b"last"), b"last")

    @staticmethod
    def _idle(d):
        # Exactly one generation left: the last "reload done" names the
        # generation that serves and no worker of another one remains.
        return len(set(d.workers())) == 3


if __name__ == "__main__":
    main()
