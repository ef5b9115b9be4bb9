"""The service manager's notify protocol (systemd's Type=notify), spoken by
drover itself: a test socket stands in for systemd and sees who sends what
(SO_PASSCRED gives each datagram's sender pid)."""

import contextlib
import os
import re
import signal
import socket
import struct
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, main, pid_alive,  # noqa: E402
                       wait_for)


class Manager:
    """A notify socket: a path, or an abstract name when it starts with
    '@'. Keeps every datagram as (sender pid, [VAR=VALUE, ...])."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@")
                       else address)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.seen = []

    def close(self):
        self.sock.close()

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        data, anc, _, _ = self.sock.recvmsg(
            4096, socket.CMSG_SPACE(struct.calcsize("iII")))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and \
                    kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        msg = (pid, data.decode().split("\n"))
        self.seen.append(msg)
        return msg

    def expect(self, pred, what, sender=None):
        """The next datagram (from sender, if given) for which pred(fields)
        holds (the others are kept in seen); fail after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s from drover; got %s"
                                     % (what, self.seen))
            try:
                pid, fields = self._recv(left)
            except socket.timeout:
                continue
            if pred(fields) and sender in (None, pid):
                return pid, fields

    def drain(self):
        """Whatever is queued now, without waiting."""
        while True:
            try:
                self._recv(0)
            except (BlockingIOError, socket.timeout):
                return

    def senders(self):
        return {pid for pid, _ in self.seen}


def has(*wanted):
    return lambda fields: all(w in fields for w in wanted)


@contextlib.contextmanager
def environ(**kw):
    """os.environ with kw set (None: unset) for the daemon started inside."""
    old = {k: os.environ.get(k) for k in kw}
    try:
        for k, v in kw.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class NotifyTest(DroverTest):

    def manager(self, d, abstract=False):
        if abstract:
            addr = "@drover-test-%s" % uuid.uuid4().hex
        else:
            addr = os.path.join(d.dir, "notify.sock")
        m = Manager(addr)
        self.addCleanup(m.close)
        return m

    def start(self, d, m, **env):
        env = dict(dict(WATCHDOG_USEC=None, WATCHDOG_PID=None), **env)
        with environ(NOTIFY_SOCKET=m.address, **env):
            d.start()

    def lifecycle(self, abstract):
        d = self.drover(workers=2)
        m = self.manager(d, abstract)
        self.start(d, m)
        pid, fields = m.expect(has("READY=1"), "READY=1")
        self.assertEqual(pid, d.master)
        self.assertIn("MAINPID=%d" % d.master, fields)
        self.assertTrue(any(re.match(r"STATUS=generation 1 serving, 2 "
                                     r"workers", f) for f in fields), fields)

        d.signal(signal.SIGHUP)
        pid, fields = m.expect(has("RELOADING=1"), "RELOADING=1")
        # systemd wants the reload's start time in the same datagram.
        self.assertTrue(any(re.fullmatch(r"MONOTONIC_USEC=[1-9]\d*", f)
                            for f in fields), fields)
        usec = int([f for f in fields if f.startswith("MONOTONIC_USEC=")]
                   [0].split("=")[1])
        self.assertLessEqual(usec, time.clock_gettime_ns(
            time.CLOCK_MONOTONIC) // 1000)
        m.expect(has("READY=1", "STATUS=generation 2 serving, 2 workers"),
                 "READY=1 after the reload")
        workers = d.wait_workers(2)

        d.signal(signal.SIGTERM)
        m.expect(has("STOPPING=1"), "STOPPING=1")
        self.assertEqual(d.wait_exit(), 0)
        m.drain()
        self.assertEqual(m.senders(), {d.master},
                         "datagrams from %s, workers were %s"
                         % (m.senders(), workers))

    def test_path_socket(self):
        self.lifecycle(abstract=False)

    def test_abstract_socket(self):
        self.lifecycle(abstract=True)

    def test_failed_reload_reports_ready_again(self):
        d = self.drover(workers=1)
        m = self.manager(d)
        self.start(d, m)
        m.expect(has("READY=1"), "READY=1")
        with open(d.conf, "a") as f:
            f.write("\nworkers = nonsense\n")
        d.signal(signal.SIGHUP)
        m.expect(has("RELOADING=1"), "RELOADING=1")
        pid, fields = m.expect(has("READY=1"), "READY=1 after a failed "
                               "reload")
        self.assertIn("STATUS=reload failed; generation 1 serving, 1 "
                      "workers", fields)
        self.assertEqual(pid, d.master)

    def test_watchdog(self):
        d = self.drover(workers=2)
        m = self.manager(d)
        self.start(d, m, WATCHDOG_USEC="200000")
        for i in range(4):
            pid, _ = m.expect(has("WATCHDOG=1"), "WATCHDOG=1 (%d)" % i)
            self.assertEqual(pid, d.master)
        d.wait_log(r"watchdog: telling the service manager every 100 ms")

    def test_watchdog_for_another_pid_is_not_ours(self):
        d = self.drover(workers=1)
        m = self.manager(d)
        # WATCHDOG_PID names the process systemd watches; ours is not it.
        self.start(d, m, WATCHDOG_USEC="200000",
                   WATCHDOG_PID=str(os.getpid()))
        m.expect(has("READY=1"), "READY=1")
        d.signal(signal.SIGTERM)
        m.expect(has("STOPPING=1"), "STOPPING=1")
        self.assertEqual(d.wait_exit(), 0)
        m.drain()
        self.assertNotIn("WATCHDOG=1", [f for _, fs in m.seen for f in fs])
        self.assertNotIn("watchdog:", d.log())

    def test_upgrade_hands_the_service_over(self):
        d = self.drover(workers=1)
        m = self.manager(d)
        self.start(d, m, WATCHDOG_USEC="200000")
        old = d.master
        m.expect(has("READY=1"), "READY=1")
        os.kill(old, signal.SIGUSR2)
        wait_for(lambda: d.read_pid() != old, what="the new master")
        new = d.read_pid()
        d.started_pids.add(new)
        # The new master tells its pid before (or with) READY=1.
        pid, fields = m.expect(has("MAINPID=%d" % new), "MAINPID=new")
        self.assertEqual(pid, new)
        self.assertIn("READY=1", fields)
        self.assertLess(fields.index("MAINPID=%d" % new),
                        fields.index("READY=1"))
        # Its own watchdog pings (WATCHDOG_PID was handed to it).
        m.expect(has("WATCHDOG=1"), "WATCHDOG=1 from the new master",
                 sender=new)
        wait_for(lambda: not pid_alive(old), what="the old master to exit")
        m.drain()
        # A STOPPING=1 from the old master would stop the whole service.
        self.assertEqual([f for pid, f in m.seen
                          if pid == old and "STOPPING=1" in f], [])
        self.assertEqual(m.senders(), {old, new})
        d.master = new


if __name__ == "__main__":
    main()
