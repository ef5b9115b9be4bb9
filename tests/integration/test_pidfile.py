"""The pid file's and the ports file's temporaries cannot be hijacked: a
symlink planted at the name drover would have used for them
(PATH.tmp.<pid>) is never followed, so a local user cannot make a root
drover overwrite another file."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import DroverTest, main, pid_alive  # noqa

VICTIM_TEXT = "root-only content\n"


class PidFileTest(DroverTest):

    def test_planted_temporary_symlink_not_followed(self):
        d = self.drover(workers=1)
        victim = os.path.join(d.dir, "victim")
        with open(victim, "w") as f:
            f.write(VICTIM_TEXT)

        def plant():
            # In the forked child, before exec: the pid is the one the
            # foreground master will have.
            for path in (d.pid_file, d.ports_file):
                os.symlink(victim, "%s.tmp.%d" % (path, os.getpid()))

        d.start(preexec=plant)
        master = d.master
        self.assertTrue(pid_alive(master))
        with open(victim) as f:
            self.assertEqual(f.read(), VICTIM_TEXT)
        self.assertFalse(os.path.islink(d.pid_file))
        self.assertEqual(d.read_pid(), master)
        self.assertEqual(os.stat(d.pid_file).st_mode & 0o777, 0o644)
        self.assertFalse(os.path.islink(d.ports_file))
        self.assertIn("echo", d.ports())
        self.assertEqual(os.stat(d.ports_file).st_mode & 0o777, 0o644)
        # The planted link is the attacker's: left alone, still a link.
        link = "%s.tmp.%d" % (d.pid_file, master)
        self.assertTrue(os.path.islink(link))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        with open(victim) as f:
            self.assertEqual(f.read(), VICTIM_TEXT)
        self.assertFalse(os.path.exists(d.pid_file))


if __name__ == "__main__":
    main()
