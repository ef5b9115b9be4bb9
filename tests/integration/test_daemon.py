"""Running as a daemon: the starting command returns only once the
workers serve (0) or start-up failed (1, error on stderr); logs go to
error_log and are reopened on USR1."""

import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, DroverTest, echo_roundtrip, main, pid_alive,  # noqa
                       run, wait_for)


def read(path):
    with open(path) as f:
        return f.read()


class DaemonTest(DroverTest):

    def start_daemon(self, d):
        r = run([DROVER, "-c", d.conf], timeout=30)
        if r.returncode == 0:
            d.master = d.read_pid()
            d.workers()
        return r

    def test_daemon_serves_when_command_returns(self):
        d = self.drover(workers=2, daemon=True)
        r = self.start_daemon(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        # No waiting: it serves the moment the command has returned.
        self.assertTrue(os.path.exists(d.ports_file))
        self.assertEqual(echo_roundtrip(*d.port(), b"daemon"), b"daemon")
        master = d.master
        self.assertTrue(pid_alive(master))
        with open("/proc/%d/stat" % master) as f:
            fields = f.read().split(")")[-1].split()
        ppid, sid = int(fields[1]), int(fields[3])
        self.assertNotEqual(ppid, os.getpid())
        # Its own session (setsid), but not its leader (second fork): it
        # can never get a controlling terminal back.
        self.assertNotEqual(sid, os.getsid(0))
        self.assertNotEqual(sid, master)
        self.assertEqual(os.readlink("/proc/%d/cwd" % master), "/")
        self.assertEqual(os.readlink("/proc/%d/fd/2" % master), "/dev/null")
        with open(d.error_log) as f:
            self.assertIn("serving: generation 1, 2 workers", f.read())
        r = run([DROVER, "-c", d.conf, "-s", "stop"])
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: not pid_alive(master), what="daemon to stop")
        self.assertFalse(os.path.exists(d.pid_file))

    def test_daemon_start_failure_is_reported(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            d = self.drover(listen='"127.0.0.1:%d"' % port, daemon=True)
            r = run([DROVER, "-c", d.conf], timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.0.1:%d: address already in use" % port,
                      r.stderr)
        self.assertFalse(os.path.exists(d.ports_file))
        if os.path.exists(d.pid_file):
            with open(d.pid_file) as f:
                text = f.read().strip()
            self.assertFalse(text and pid_alive(int(text)))

    def test_daemon_second_instance_refused(self):
        d = self.drover(daemon=True)
        self.assertEqual(self.start_daemon(d).returncode, 0)
        r = run([DROVER, "-c", d.conf], timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already running as pid %d" % d.master, r.stderr)

    def test_usr1_reopens_error_log(self):
        d = self.drover(workers=2, daemon=True)
        self.assertEqual(self.start_daemon(d).returncode, 0)
        rotated = d.error_log + ".1"
        os.rename(d.error_log, rotated)
        run([DROVER, "-c", d.conf, "-s", "reopen"]).check_returncode()
        wait_for(lambda: os.path.exists(d.error_log), what="new error log")
        # Workers write to the new file too: make one log (drain on QUIT).
        w = d.workers()[0]
        os.kill(w, signal.SIGQUIT)
        wait_for(lambda: "worker 1." in read(d.error_log),
                 what="a worker's line in the reopened log")
        self.assertNotIn("draining (SIGQUIT)", read(rotated))
        text = read(d.error_log)
        self.assertIn("reopened the error log", text)
        self.assertIn("draining (SIGQUIT)", text)


if __name__ == "__main__":
    main()
