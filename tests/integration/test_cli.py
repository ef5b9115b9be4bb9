"""The command line: -V, -h, -t, -s and bad usage, on the real binary."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import DROVER, TIMEOUT, DroverTest, main, run  # noqa: E402


class CliTest(DroverTest):

    def test_version_lists_features(self):
        r = run([DROVER, "-V"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^drover \d+\.\d+\.\d+\n")
        self.assertRegex(r.stdout, r"libevent 2\.1")
        self.assertRegex(r.stdout, r"features: .*\bsd_notify\b")

    def test_help_and_bad_usage(self):
        r = run([DROVER, "-h"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: drover [-c FILE]", r.stdout)
        r = run([DROVER, "-x"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("usage:", r.stderr)
        r = run([DROVER, "stray-argument"])
        self.assertEqual(r.returncode, 1)

    def test_check_good_config(self):
        d = self.drover()
        r = run([DROVER, "-t", "-c", d.conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stderr)

    def test_check_bad_config_names_file_and_line(self):
        d = self.drover()
        d.write_conf(d.conf_text() + "\nserver other {\n"
                     "    listen = {\"127.0.0.1:0\"}\n"
                     "    protocol = gopher\n}\n")
        r = run([DROVER, "-t", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        line = d.conf_text().count("\n") + 4
        self.assertIn("%s:%d:" % (d.conf, line), r.stderr)
        self.assertIn("gopher", r.stderr)

    def test_check_unknown_key(self):
        d = self.drover()
        d.write_conf("worker = 2\n" + d.conf_text())
        r = run([DROVER, "-t", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:1:" % d.conf, r.stderr)
        self.assertIn("worker", r.stderr)

    def test_shipped_config_is_valid(self):
        srcdir = os.environ.get("TESTS_SRCDIR") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..")
        conf = os.path.join(srcdir, "..", "conf", "drover.conf")
        r = run([DROVER, "-t", "-c", conf])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_check_missing_file(self):
        r = run([DROVER, "-t", "-c", "/nonexistent/drover.conf"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/drover.conf", r.stderr)
        self.assertIn("No such file", r.stderr)

    def test_check_fifo_refused_without_blocking(self):
        # Opening a FIFO for reading blocks until a writer comes: -t must
        # refuse it instead (the timeout only guards a hang).
        d = self.drover()
        fifo = os.path.join(d.dir, "fifo.conf")
        os.mkfifo(fifo)
        r = run([DROVER, "-t", "-c", fifo], timeout=TIMEOUT)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s: not a regular file" % fifo, r.stderr)

    def test_check_directory_refused(self):
        d = self.drover()
        r = run([DROVER, "-t", "-c", d.dir])
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s: not a regular file" % d.dir, r.stderr)

    def test_check_unknown_user(self):
        d = self.drover(extra='user = "no-such-user-drover"')
        r = run([DROVER, "-t", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        line = d.conf_text().split("\n").index(
            'user = "no-such-user-drover"') + 1
        self.assertIn('%s:%d: user "no-such-user-drover": no such user'
                      % (d.conf, line), r.stderr)

    def test_check_overlapping_listeners(self):
        # 127.0.0.1:P and *:P cannot both be bound: -t says so.
        d = self.drover(listen='"127.0.0.1:8080"')
        d.write_conf(d.conf_text() + "server other {\n"
                     "    listen = {\"*:8080\"}\n"
                     "    protocol = echo\n}\n")
        r = run([DROVER, "-t", "-c", d.conf])
        self.assertEqual(r.returncode, 1)
        line = d.conf_text().count("\n") + 4
        self.assertIn('%s:%d: server other: listen "*:8080" overlaps '
                      '"127.0.0.1:8080" of server echo' % (d.conf, line),
                      r.stderr)

    def test_signal_without_running_master(self):
        d = self.drover()
        r = run([DROVER, "-c", d.conf, "-s", "reload"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(d.pid_file, r.stderr)
        self.assertIn("running", r.stderr)

    def test_signal_with_stale_pid_file(self):
        d = self.drover()
        with open(d.pid_file, "w") as f:
            f.write("999999\n")
        r = run([DROVER, "-c", d.conf, "-s", "stop"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("not running", r.stderr)

    def test_signal_unknown_name(self):
        d = self.drover()
        r = run([DROVER, "-c", d.conf, "-s", "explode"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("explode", r.stderr)

    def test_signal_without_pid_file_setting(self):
        d = self.drover()
        d.write_conf(d.conf_text().replace(
            'pid_file = "%s"\n' % d.pid_file, ""))
        r = run([DROVER, "-c", d.conf, "-s", "reload"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("pid_file", r.stderr)


if __name__ == "__main__":
    main()
