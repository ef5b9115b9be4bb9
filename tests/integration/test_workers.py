"""The process model seen from the kernel: each worker holds its own
listening socket, connections spread over workers, the master accepts
nothing, crashed workers are replaced and crash loops are slowed down."""

import os
import resource
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, echo_roundtrip, listening_inodes, main,  # noqa
                       numbered_conns, pid_alive, read_echo,
                       ss_connection_pids, ss_listeners, wait_for)


class WorkersTest(DroverTest):

    def test_each_worker_has_its_own_listener(self):
        d = self.drover(workers=4)
        d.start()
        workers = d.wait_workers(4)
        _, port = d.port()
        rows = ss_listeners(port)
        by_pid = {}
        for p, ino in rows:
            by_pid.setdefault(p, set()).add(ino)
        for w in workers:
            self.assertEqual(len(by_pid.get(w, ())), 1,
                             "worker %d listeners: %s" % (w, rows))
            self.assertTrue(by_pid[w] <= listening_inodes(w))
        inodes = set().union(*(by_pid[w] for w in workers))
        self.assertEqual(len(inodes), 4, "workers share a socket: %s" % rows)
        # The master keeps a copy of each slot's listener (so its queue
        # outlives the worker) and nothing else; it never accepts.
        self.assertEqual(set(by_pid) - set(workers), {d.master})
        self.assertEqual(by_pid[d.master], inodes)

    def test_connections_spread_over_workers(self):
        d = self.drover(workers=4)
        d.start()
        workers = d.wait_workers(4)
        host, port = d.port()
        socks = []
        for i in range(64):
            s = socket.create_connection((host, port), timeout=TIMEOUT)
            s.sendall(b"x")
            self.assertEqual(s.recv(1), b"x")   # accepted and served
            socks.append(s)
        owners = ss_connection_pids(port)
        for s in socks:
            s.close()
        self.assertEqual(len(owners), 64, owners)
        self.assertTrue(set(owners) <= set(workers), owners)
        self.assertNotIn(d.master, owners)
        self.assertGreater(len(set(owners)), 1,
                           "all 64 connections went to one worker")

    def test_killed_worker_is_replaced(self):
        d = self.drover(workers=2)
        d.start()
        workers = d.wait_workers(2)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        now = d.wait_workers(2, exclude=[victim])
        self.assertIn(workers[1], now)
        d.wait_log(r"worker %d \(generation 1, slot \d\) killed by "
                   r"signal 9" % victim)
        for _ in range(20):
            self.assertEqual(echo_roundtrip(*d.port(), b"ok"), b"ok")

    def test_crash_loop_is_slowed_down(self):
        d = self.drover(workers=1)
        d.start()
        seen = set()
        for i in range(4):
            w = d.wait_workers(1, exclude=seen)[0]
            seen.add(w)
            os.kill(w, signal.SIGKILL)
            wait_for(lambda: not pid_alive(w), what="worker %d to die" % w)
        # Deaths 2, 3 and 4 in a row wait 100, 200 and 400 ms.
        d.wait_log(r"died 2 times in a row: respawning in 100 ms")
        d.wait_log(r"died 4 times in a row: respawning in 400 ms")
        d.wait_workers(1, exclude=seen)
        self.assertEqual(echo_roundtrip(*d.port(), b"back"), b"back")

    def test_out_of_descriptors_pauses_accepting_and_loses_nothing(self):
        """At the fd limit a worker stops accepting (and says so) instead
        of spinning or dropping; queued connections are served later."""
        d = self.drover(workers=1, extra="rlimit_nofile = 24")
        d.start()
        host, port = d.port()
        held = numbered_conns(host, port, 40)
        d.wait_log(r"accept on 127\.0\.0\.1:%d: Too many open files: "
                   r"pausing accepts" % port)
        # Each waiting connection gets its echo once others close.
        for i, s in enumerate(held):
            want = b"%d;" % i
            self.assertEqual(read_echo(s, len(want)), want,
                             "connection %d closed" % i)
            s.close()
        self.assertTrue(pid_alive(d.workers()[0]))

    def test_worker_failing_at_start_up_fails_start_up(self):
        """The only worker of the first generation exits before it is
        ready: drover says why and exits 1 (it used to crash here)."""
        hard = 1024

        def low_hard_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

        # Root with CAP_SYS_RESOURCE may raise its hard limit again.
        probe = subprocess.run(
            [sys.executable, "-c", "import resource as r; "
             "r.setrlimit(r.RLIMIT_NOFILE, (%d, %d))" % (hard * 2, hard * 2)],
            preexec_fn=low_hard_limit, capture_output=True)
        if probe.returncode == 0:
            self.skipTest("this process may raise its hard descriptor limit")
        d = self.drover(workers=1, extra="rlimit_nofile = %d" % (hard * 2))
        d.start(wait=False, preexec=low_hard_limit)
        self.assertEqual(d.wait_exit(), 1, d.log())
        self.assertRegex(d.log(), r"start-up failed: worker \d+ \(generation "
                         r"1, slot 0\) exit status 1: rlimit_nofile = %d: "
                         r"Operation not permitted \(the hard limit is "
                         r"%d\)" % (hard * 2, hard))
        self.assertFalse(os.path.exists(d.ports_file))

    def test_workers_auto_means_online_cpus(self):
        d = self.drover(workers="auto")
        d.start()
        d.wait_workers(os.cpu_count() or 1)


if __name__ == "__main__":
    main()
