"""Runs a command on a fresh pseudo-terminal and relays bytes (test/sim/pods.ts, for SSH `pty-req`).

usage: pty-helper.py COLS ROWS COMMAND [ARGS...]
  stdin  -> terminal input; EOF on stdin stops relaying input (the terminal stays open)
  stdout <- terminal output
  fd 3   <- resize requests, one "COLS ROWS\n" per line (TIOCSWINSZ; the kernel sends SIGWINCH)
Exits with the command's status; if the command died of a signal, dies of the same signal.
SIGHUP/SIGTERM to the helper hang up the terminal (the session gets SIGHUP, like sshd does).
"""
import errno
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios


def set_size(fd, cols, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    argv = sys.argv[3:]
    try:
        os.fstat(3)
        ctl = 3
    except OSError:
        ctl = None
    pid, master = pty.fork()
    if pid == 0:
        if ctl is not None:
            try:
                os.close(ctl)
            except OSError:
                pass
        set_size(0, cols, rows)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, ("%s: %s\r\n" % (argv[0], e.strerror)).encode())
            os._exit(127)
    set_size(master, cols, rows)

    def hangup(*_):
        try:
            os.killpg(os.getpgid(pid), signal.SIGHUP)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError:
            pass

    signal.signal(signal.SIGHUP, hangup)
    signal.signal(signal.SIGTERM, hangup)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    stdin_open = True
    ctl_buf = b""
    out_open = True
    status = None
    while out_open:
        fds = [master]
        if stdin_open:
            fds.append(0)
        if ctl is not None:
            fds.append(ctl)
        try:
            ready, _, _ = select.select(fds, [], [], 0.2 if status is not None else None)
        except InterruptedError:
            continue
        if not ready and status is not None:
            break
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                data = b""
            if not data:
                out_open = False
            else:
                view = memoryview(data)
                while view:
                    n = os.write(1, view)
                    view = view[n:]
        if stdin_open and 0 in ready:
            data = os.read(0, 65536)
            if not data:
                stdin_open = False
            else:
                view = memoryview(data)
                while view:
                    try:
                        n = os.write(master, view)
                    except OSError:
                        break
                    view = view[n:]
        if ctl is not None and ctl in ready:
            data = os.read(ctl, 4096)
            if not data:
                ctl = None
            else:
                ctl_buf += data
                while b"\n" in ctl_buf:
                    line, ctl_buf = ctl_buf.split(b"\n", 1)
                    parts = line.split()
                    if len(parts) == 2:
                        set_size(master, int(parts[0]), int(parts[1]))
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
    if status is None:
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


main()
