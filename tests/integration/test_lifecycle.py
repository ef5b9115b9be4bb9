"""Starting and stopping in the foreground: ports file, pid file and its
lock, second instances, signals through -s, graceful and fast stops."""

import fcntl
import os
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, echo_roundtrip,  # noqa
                       free_port, main, pid_alive, run, wait_for)


def lock_holder(path):
    """Pid holding a POSIX write lock on path (F_GETLK), 0 if none."""
    with open(path, "r") as f:
        req = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
        res = fcntl.fcntl(f.fileno(), fcntl.F_GETLK, req)
        ltype, _, _, _, pid = struct.unpack("hhqqi", res)
        return 0 if ltype == fcntl.F_UNLCK else pid


class LifecycleTest(DroverTest):

    def test_serves_and_writes_ports_and_pid_files(self):
        d = self.drover(workers=2)
        d.start()
        ports = d.ports()
        self.assertEqual(list(ports), ["echo"])
        host, port = ports["echo"][0]
        self.assertEqual(host, "127.0.0.1")
        self.assertNotEqual(port, 0)
        self.assertEqual(echo_roundtrip(host, port, b"abc"), b"abc")
        self.assertEqual(d.read_pid(), d.master)
        self.assertEqual(lock_holder(d.pid_file), d.master)
        self.assertRegex(d.log(), r"listen 127\.0\.0\.1:0: picked port %d"
                         % port)

    def test_second_instance_refused_names_pid(self):
        d = self.drover()
        d.start()
        r = run([DROVER, "-f", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("already running as pid %d" % d.master, r.stderr)
        self.assertTrue(pid_alive(d.master))
        self.assertEqual(d.read_pid(), d.master)

    def test_stale_pid_file_is_taken_over(self):
        d = self.drover()
        with open(d.pid_file, "w") as f:
            f.write("999999\n")
        d.start()
        self.assertEqual(d.read_pid(), d.master)

    def test_other_instance_on_same_port_refused(self):
        port = free_port()
        listen = '"127.0.0.1:%d"' % port
        a = self.drover(listen=listen)
        a.start()
        b = self.drover(listen=listen)   # its own pid file
        r = run([DROVER, "-f", "-c", b.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.0.1:%d" % port, r.stderr)
        self.assertIn("address already in use", r.stderr)
        self.assertFalse(os.path.exists(b.pid_file))
        self.assertEqual(echo_roundtrip("127.0.0.1", port, b"x"), b"x")

    def test_port_held_by_plain_socket_fails_startup(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            d = self.drover(listen='"127.0.0.1:%d"' % port)
            r = run([DROVER, "-f", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("address already in use", r.stderr)

    def test_quit_waits_for_open_echo_connection(self):
        d = self.drover(workers=1)
        d.start()
        host, port = d.port()
        c = socket.create_connection((host, port), timeout=TIMEOUT)
        c.sendall(b"one")
        self.assertEqual(c.recv(10), b"one")
        run([DROVER, "-c", d.conf, "-s", "quit"]).check_returncode()
        d.wait_log(r"graceful stop")
        # Listener closed: new connections are refused ...
        wait_for(lambda: self._refused(host, port),
                 what="listener to close")
        # ... but the open one still echoes.
        c.sendall(b"two")
        self.assertEqual(c.recv(10), b"two")
        self.assertTrue(pid_alive(d.master))
        self.assertTrue(os.path.exists(d.pid_file))
        c.close()
        self.assertEqual(d.wait_exit(), 0)
        self.assertFalse(os.path.exists(d.pid_file))
        self.assertFalse(os.path.exists(d.ports_file))

    @staticmethod
    def _refused(host, port):
        try:
            socket.create_connection((host, port), timeout=2).close()
            return False
        except ConnectionRefusedError:
            return True

    def test_stop_is_fast_even_with_open_connection(self):
        """A fast stop does not wait for open connections: with no idle
        or shutdown timeout to end it within the hour, the master exits
        while our connection is still open. It reaps its workers before
        it exits."""
        d = self.drover(workers=2, idle=3600, shutdown_timeout=3600)
        d.start()
        workers = d.workers()
        c = socket.create_connection(d.port(), timeout=TIMEOUT)
        c.sendall(b"x")
        self.assertEqual(c.recv(1), b"x")
        run([DROVER, "-c", d.conf, "-s", "stop"]).check_returncode()
        self.assertEqual(d.wait_exit(), 0)
        for w in workers:
            self.assertFalse(pid_alive(w))
        self.assertEqual(c.recv(1), b"")
        c.close()
        self.assertFalse(os.path.exists(d.pid_file))

    def test_sigint_stops(self):
        d = self.drover()
        d.start()
        d.signal(signal.SIGINT)
        self.assertEqual(d.wait_exit(), 0)

    def test_reopen_signal_keeps_serving(self):
        d = self.drover()
        d.start()
        workers = sorted(d.workers())
        run([DROVER, "-c", d.conf, "-s", "reopen"]).check_returncode()
        d.wait_log(r"reopened the error log")
        self.assertEqual(sorted(d.workers()), workers)
        self.assertEqual(echo_roundtrip(*d.port(), b"still"), b"still")

    def test_master_death_takes_workers_down(self):
        d = self.drover(workers=2)
        d.start()
        workers = d.workers()
        os.kill(d.master, signal.SIGKILL)
        d.proc.wait(timeout=TIMEOUT)
        for w in workers:
            wait_for(lambda: not pid_alive(w),
                     what="worker %d to exit after its master died" % w)
        host, port = d.port()
        wait_for(lambda: self._refused(host, port),
                 what="nobody to listen on %d any more" % port)


    def test_notify_socket_hears_ready_reloading_stopping(self):
        d = self.drover()
        path = os.path.join(d.dir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(TIMEOUT)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            d.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]

        def expect(state):
            while True:
                msg = sock.recv(4096).decode()
                if state in msg.split("\n"):
                    return
        expect("READY=1")
        d.signal(signal.SIGHUP)
        expect("RELOADING=1")
        expect("READY=1")
        d.signal(signal.SIGTERM)
        expect("STOPPING=1")
        sock.close()
        self.assertEqual(d.wait_exit(), 0)


if __name__ == "__main__":
    main()
