"""The master's and the workers' failure and teardown paths: reloads whose
new generation never gets ready, stops and reloads while one is starting,
crash loops that leave a slot without a worker, a listener lent to a worker
that has paused accepting. Run it against a sanitizer build too (DROVER=...
with ASAN_OPTIONS/UBSAN_OPTIONS log_path set, as make check-sanitizers
does): a master that crashes here fails the test, a report fails that run.

A worker of an HTTP server is held before it reports ready by pointing
mime_types at a FIFO: it blocks opening it until the test opens the other
end (release()) or kills it."""

import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, children, echo_roundtrip, main,  # noqa
                       numbered_conns, pid_alive, read_echo, ss_listeners,
                       wait_for)
from httplib_raw import get, request  # noqa: E402

HTTP = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/hello" { return = "200 Hello, World!" }
}
"""

ECHO_AND_HTTP = """
server echo {
    listen = {"127.0.0.1:0"}
    protocol = echo
}
server web {
    listen = {"127.0.0.2:0"}
    protocol = http
    location "/hello" { return = "200 Hello, World!" }
}
"""

ECHO_ONE_CONN = """
server echo {
    listen = {"127.0.0.1:0"}
    protocol = echo
    max_connections = 1
}
"""


def make_fifo(d):
    path = os.path.join(d.dir, "mime.fifo")
    os.mkfifo(path)
    return path


def release(path):
    """Let the workers blocked opening the FIFO go on (they read an empty
    file); False if none is blocked on it (yet: a new worker gets there
    some time after it is forked, so wait on this, do not assert it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:     # ENXIO: no reader
        return False
    os.close(fd)
    return True


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().split(")")[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_clean_exit(test, d, code, timeout=TIMEOUT):
    """The master exits with code through its clean-up (which removes the
    pid file), with no sanitizer report on its stderr. A sanitizer abort
    exits 1 too: at start-up only the pid file tells them apart."""
    test.assertEqual(d.wait_exit(timeout), code, d.log())
    test.assertFalse(os.path.exists(d.pid_file), "no clean-up:\n" + d.log())
    test.assertNotRegex(d.log(), r"Sanitizer|runtime error:")


def started_pid(d, gen, slot):
    """The last worker the master started for (generation, slot), from
    its debug log."""
    found = re.findall(r"worker (\d+) started \(generation %d, slot %d\)"
                       % (gen, slot), d.log())
    return int(found[-1]) if found else None


class LifecycleFaultsTest(DroverTest):

    def new_pids(self, d, old):
        return [p for p in d.workers() if p not in old]

    def hung_reload(self, d, fifo, extra=""):
        """SIGHUP with a configuration whose workers block before ready;
        returns the new generation's worker pids."""
        old = d.workers()
        d.write_conf(extra='mime_types = "%s"\n%s' % (fifo, extra))
        d.signal(signal.SIGHUP)
        return wait_for(lambda: self.new_pids(d, old),
                        what="the new generation's worker")

    def assert_serves(self, d):
        r = request(*d.port("web"), get("/hello"))
        self.assertEqual(r.status, 200)

    # -- reloads that fail while another is requested -------------------

    def test_worker_dying_before_ready_with_a_reload_folded_in(self):
        """The only new worker dies before it is ready while a second
        SIGHUP waits: the reload fails, the old generation serves on, the
        folded reload starts at once and serves when its worker is let
        go."""
        d = self.drover(workers=1, servers=HTTP)
        d.start()
        old = d.workers()
        fifo = make_fifo(d)
        new = self.hung_reload(d, fifo)
        d.signal(signal.SIGHUP)
        d.wait_log(r"generation 2 is still starting; reloading again")
        os.kill(new[0], signal.SIGKILL)
        d.wait_log(r"reload failed: worker %d \(generation 2, slot 0\) "
                   r"killed by signal 9" % new[0])
        d.wait_log(r"generation 3 starting with 1 workers")
        self.assertTrue(pid_alive(d.master))
        self.assertEqual([p for p in old if pid_alive(p)], old)
        self.assert_serves(d)
        wait_for(lambda: release(fifo), what="generation 3 blocked")
        d.wait_log(r"reload done: generation 3 serves")
        d.wait_workers(1, exclude=old + new)
        self.assert_serves(d)
        d.signal(signal.SIGQUIT)
        assert_clean_exit(self, d, 0)

    def test_ready_timeout_with_a_reload_folded_in(self):
        """ready_timeout aborts generation 2 and the folded reload's
        generation 3 in turn; generation 1 serves throughout, and a stop
        then ends every generation."""
        d = self.drover(workers=1, servers=HTTP)
        d.start()
        old = d.workers()
        fifo = make_fifo(d)
        self.hung_reload(d, fifo, "ready_timeout = 1")
        d.signal(signal.SIGHUP)
        d.wait_log(r"generation 2: ready_timeout \(1 s\) reached with 0 "
                   r"of 1 workers ready")
        d.wait_log(r"generation 3: ready_timeout \(1 s\) reached with 0 "
                   r"of 1 workers ready")
        self.assertTrue(pid_alive(d.master))
        self.assert_serves(d)
        wait_for(lambda: release(fifo), what="a worker blocked on the FIFO")
        # Generation 3's worker, let go, is stopped and reaped after the
        # log line: wait for generation 1's to be the only one left.
        d.wait_worker_set(old)
        d.signal(signal.SIGTERM)
        assert_clean_exit(self, d, 0)
        self.assertFalse(os.path.exists(d.ports_file))

    def test_fast_stop_while_a_reload_starts(self):
        d = self.drover(workers=2, servers=HTTP)
        d.start()
        fifo = make_fifo(d)
        self.hung_reload(d, fifo)
        d.signal(signal.SIGHUP)
        d.wait_log(r"reloading again once it is done")
        d.signal(signal.SIGTERM)
        d.wait_log(r"fast stop")
        wait_for(lambda: release(fifo), what="a worker blocked on the FIFO")
        assert_clean_exit(self, d, 0)
        self.assertFalse(os.path.exists(d.ports_file))

    def test_reload_folded_into_start_up_then_worker_dies(self):
        """SIGHUP while the first generation starts, then its worker dies:
        start-up fails with status 1 (no reload is started)."""
        d = self.drover(workers=1, servers=HTTP)
        fifo = make_fifo(d)
        d.write_conf(extra='mime_types = "%s"' % fifo)
        d.start(wait=False)
        w = wait_for(lambda: d.workers(), what="the first worker")
        d.signal(signal.SIGHUP)
        d.wait_log(r"generation 1 is still starting; reloading again")
        os.kill(w[0], signal.SIGKILL)
        assert_clean_exit(self, d, 1)
        self.assertRegex(d.log(), r"start-up failed: worker %d \(generation "
                         r"1, slot 0\) killed by signal 9" % w[0])
        self.assertNotIn("generation 2", d.log())

    def fail_reload_with_queued_echoes(self, d, new, then=None):
        """Once the new slot's own echo listener is open, queue 40 echo
        connections, kill the new generation's workers (the reload fails),
        call then(), and check that every connection gets its echo."""
        host, port = d.port("echo")
        wait_for(lambda: len({ino for _, ino in ss_listeners(port)}) == 2,
                 what="the new slot's own echo listener")
        # Spread over slot 0's listener and the new one: 2^-40 that none
        # waits in the new one.
        socks = numbered_conns(host, port, 40)
        try:
            for pid in new:
                os.kill(pid, signal.SIGKILL)
            d.wait_log(r"reload failed: worker \d+ \(generation 2, slot \d\) "
                       r"killed by signal 9")
            if then is not None:
                then()
            for i, s in enumerate(socks):
                want = b"%d;" % i
                self.assertEqual(read_echo(s, len(want)), want,
                                 "connection %d lost" % i)
        finally:
            for s in socks:
                s.close()

    def test_failed_reload_that_added_a_worker_loses_no_connection(self):
        """1 worker reloaded to 2: the new slot's worker opens its echo
        listener, then blocks (web's mime_types is a FIFO) and dies. What
        the kernel queued in that listener meanwhile is served by the
        generation that carries on, which adopts it; it used to be closed,
        and those connections reset."""
        d = self.drover(workers=1, servers=ECHO_AND_HTTP)
        d.start()
        host, port = d.port("echo")
        old = d.workers()
        fifo = make_fifo(d)
        d.write_conf(workers=2, extra='mime_types = "%s"' % fifo)
        d.signal(signal.SIGHUP)
        new = wait_for(lambda: len(self.new_pids(d, old)) == 2
                       and self.new_pids(d, old), what="two new workers")
        self.fail_reload_with_queued_echoes(d, new)
        # The other new worker is stopped after the failure is logged.
        d.wait_worker_set(old)
        self.assertEqual(echo_roundtrip(host, port, b"on"), b"on")
        d.signal(signal.SIGQUIT)
        assert_clean_exit(self, d, 0)

    def test_stray_listener_goes_to_a_worker_that_is_ready_later(self):
        """As above, but generation 1's only worker is itself being
        replaced (held before ready) when the reload fails: nobody ready
        can take the new slot's listener then, so the replacement must
        take it once it is ready. It used to get none, and the listener
        stayed in the reuseport group with nobody accepting on it."""
        d = self.drover(workers=1, servers=ECHO_AND_HTTP)
        fifo = make_fifo(d)
        d.write_conf(extra='mime_types = "%s"' % fifo)
        d.start(wait=False)
        wait_for(lambda: release(fifo), what="the first worker blocked")
        wait_for(lambda: os.path.exists(d.ports_file), what="serving")
        host, port = d.port("echo")
        first = d.workers()
        os.kill(first[0], signal.SIGKILL)
        d.wait_log(r"worker %d \(generation 1, slot 0\) killed" % first[0])
        respawn = wait_for(lambda: self.new_pids(d, first),
                           what="the replacement")
        d.write_conf(workers=2, extra='mime_types = "%s"' % fifo)
        d.signal(signal.SIGHUP)
        new = wait_for(lambda: len(self.new_pids(d, first + respawn)) == 2
                       and self.new_pids(d, first + respawn),
                       what="two new workers")
        self.fail_reload_with_queued_echoes(
            d, new, then=lambda: wait_for(
                lambda: release(fifo), what="the replacement blocked"))
        d.wait_worker_set(respawn)

    # -- a slot without a worker: its listeners are lent ------------------

    def crash_loop(self, d, gen, slot, times):
        """Kill (generation, slot)'s worker `times` times in a row, each
        replacement once it runs; returns the pids killed."""
        killed = []
        for _ in range(times):
            pid = wait_for(lambda: (started_pid(d, gen, slot) not in killed
                                    and pid_alive(started_pid(d, gen, slot))
                                    and started_pid(d, gen, slot)),
                           what="slot %d's worker" % slot)
            d.wait_log(r"worker %d ready" % pid)
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid), what="worker to die")
        return killed

    def test_dead_slot_lends_the_retired_slots_it_adopted(self):
        """3 workers reloaded to 2: slot 0 accepts on retired slot 2's
        listener as well. While slot 0 waits out its crash-loop backoff,
        slot 1 must accept on both of them; it used to get only slot 0's
        own, and what queued in slot 2's waited for the replacement."""
        d = self.drover(workers=3, log_level="debug")
        d.start()
        host, port = d.port()
        d.wait_workers(3)
        d.write_conf(workers=2)
        d.signal(signal.SIGHUP)
        d.wait_log(r"reload done: generation 2")
        d.wait_workers(2)
        # Deaths 1 to 6 in a row: the sixth replacement waits 1600 ms.
        self.crash_loop(d, 2, 0, 6)
        d.wait_log(r"slot 0 of generation 2 died 6 times in a row: "
                   r"respawning in 1600 ms")
        # The master lent slot 0's listeners to slot 1 before that line.
        # Stopped, it cannot respawn slot 0 however long the echoes
        # take: they can only come from slot 1.
        os.kill(d.master, signal.SIGSTOP)
        try:
            d.wait_workers(1)
            # Spread by the kernel over the listeners of slots 0, 1, 2:
            # (2/3)^30 that none lands in slot 2's.
            socks = numbered_conns(host, port, 30)
            try:
                for i, s in enumerate(socks):
                    want = b"%d;" % i
                    self.assertEqual(read_echo(s, len(want)), want,
                                     "connection %d closed" % i)
                self.assertEqual(len(d.workers()), 1,
                                 "echoes came only once slot 0 was "
                                 "replaced")
            finally:
                for s in socks:
                    s.close()
        finally:
            os.kill(d.master, signal.SIGCONT)
        d.wait_workers(2)
        self.assertEqual(echo_roundtrip(host, port, b"back"), b"back")

    def test_listener_lent_to_a_paused_worker_does_not_spin(self):
        """Slot 0's worker is at max_connections (accepting paused) when
        slot 1's dies and its listener is lent to slot 0: slot 0 must not
        watch it until it accepts again. It used to, and a connection
        waiting there woke its loop over and over (100% CPU)."""
        d = self.drover(workers=2, servers=ECHO_ONE_CONN, log_level="debug")
        d.start()
        host, port = d.port()
        d.wait_workers(2)
        a = wait_for(lambda: started_pid(d, 1, 0), what="slot 0's pid")
        d.wait_log(r"worker %d ready" % a)
        socks = []
        try:
            # Some of these land in slot 0's listener: it takes one and
            # pauses.
            for i in range(10):
                socks.append(socket.create_connection((host, port),
                                                      timeout=5))
            d.wait_log(r"worker 1\.0\[%d\]: server echo: max_connections "
                       r"\(1\) reached: pausing accepts" % a)
            b = started_pid(d, 1, 1)
            os.kill(b, signal.SIGKILL)
            d.wait_workers(2, exclude=[b])
            # Slot 1's replacement takes one and pauses too: the rest of
            # these wait in the two listeners, slot 1's lent to slot 0.
            for i in range(20):
                socks.append(socket.create_connection((host, port),
                                                      timeout=5))
            self.assertTrue(pid_alive(a))
            before = cpu_seconds(a)
            start = time.monotonic()
            # A negative check: watch slot 0 for one second.
            wait_for(lambda: time.monotonic() - start >= 1.0
                     or cpu_seconds(a) - before > 0.5, timeout=5,
                     what="one second or a spinning worker")
            used = cpu_seconds(a) - before
            self.assertLess(used, 0.3, "slot 0 spun (%.2f s of CPU in "
                            "%.2f s)" % (used, time.monotonic() - start))
        finally:
            for s in socks:
                s.close()
        self.assertEqual(echo_roundtrip(host, port, b"ok"), b"ok")

    # -- binary upgrades -------------------------------------------------

    def test_chained_upgrade_keeps_the_old_masters_oldbin(self):
        """A upgrades to B, and B to C while A still drains a connection:
        PIDFILE.oldbin names B, and A exiting must leave it alone (it used
        to remove it); B removes it when it exits."""
        d = self.drover(workers=1, shutdown_timeout=20)
        d.start()
        host, port = d.port()
        oldbin = d.pid_file + ".oldbin"

        def read_oldbin():
            with open(oldbin) as f:
                return int(f.read())

        def upgrade(old, old_worker, conn):
            os.kill(old, signal.SIGUSR2)
            new = wait_for(lambda: d.read_pid() != old and d.read_pid(),
                           what="the new master to serve")
            d.started_pids.add(new)
            # The old worker has closed its listener: it only drains conn.
            d.wait_log(r"worker \d+\.0\[%d\]: draining \(told by the "
                       r"master\): 1 connections open" % old_worker)
            self.assertEqual(echo_roundtrip(host, port, b"x"), b"x")
            self.assertEqual(conn.send(b"y"), 1)
            self.assertEqual(conn.recv(1), b"y")
            return new

        a = d.master
        aw = d.wait_workers(1)[0]
        c1 = socket.create_connection((host, port), timeout=TIMEOUT)
        c2 = None
        try:
            c1.sendall(b"1")
            self.assertEqual(c1.recv(1), b"1")
            b = upgrade(a, aw, c1)
            bw = wait_for(lambda: children(b), what="B's worker")[0]
            c2 = socket.create_connection((host, port), timeout=TIMEOUT)
            c2.sendall(b"2")
            self.assertEqual(c2.recv(1), b"2")
            c = upgrade(b, bw, c2)
            self.assertEqual(read_oldbin(), b)
            c1.close()
            d.wait_exit(15)
            self.assertFalse(pid_alive(a))
            self.assertTrue(pid_alive(b))
            self.assertTrue(os.path.exists(oldbin),
                            "A's exit removed B's PIDFILE.oldbin")
            self.assertEqual(read_oldbin(), b)
            c2.close()
            wait_for(lambda: not pid_alive(b), what="B to exit")
            self.assertFalse(os.path.exists(oldbin))
            self.assertEqual(d.read_pid(), c)
            d.master = c
        finally:
            c1.close()
            if c2 is not None:
                c2.close()
        self.assertEqual(echo_roundtrip(host, port, b"c"), b"c")


if __name__ == "__main__":
    main()
