# kgpu: the editor's end of a debug session on a job (stdlib only; sent with `python -c`): relays
# the agent stream (stdin/stdout) to debugpy listening on 127.0.0.1:<port> in the job. argv: port,
# job directory, on-disconnect ("stop" | "keepRunning"). With "stop", a watchdog in a session of its
# own holds the read end of a pipe whose write end only this relay has: however the relay ends —
# the session is over, the connection dropped, the agent signalled or SIGKILLed its stream (it does
# when its SSH channel goes) — the pipe reads EOF and the watchdog stops the job (its whole process
# group: SIGTERM, SIGKILL after 5 s, recorded as a stop), so a program paused at a breakpoint never
# stays behind billing. With "keepRunning" it goes on (debugpy keeps listening: kgpu: Attach
# Debugger reattaches).
import os, signal, socket, sys, threading, time

port, jobdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def ended():
    return os.path.exists(jobdir + "/exit_code") or os.path.exists(jobdir + "/signal")


def stop_job():
    if ended():
        return
    try:
        pgid = int(open(jobdir + "/pgid").read().strip())
    except (OSError, ValueError):
        return
    try:
        t = jobdir + "/.stop_requested.tmp"
        with open(t, "w") as fh:
            fh.write("%d\n" % int(time.time() * 1000))
        os.replace(t, jobdir + "/stop_requested")
        os.killpg(pgid, signal.SIGTERM)
        for _ in range(250):
            time.sleep(0.02)
            os.killpg(pgid, 0)
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


if mode == "stop":
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        os.close(w)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            while os.read(r, 1):
                pass
        except OSError:
            pass
        stop_job()
        os._exit(0)
    os.close(r)  # w stays open as long as this process lives


def finish(*_):
    os._exit(0)


signal.signal(signal.SIGTERM, finish)
signal.signal(signal.SIGHUP, finish)
try:
    s = socket.create_connection(("127.0.0.1", port))
except OSError as e:
    sys.stderr.write("kgpu-debug: nothing listens on 127.0.0.1:%d in the pod (%s)\n" % (port, e))
    finish()


def pod_to_editor():
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            os.write(1, data)
    except OSError:
        pass
    finish()


threading.Thread(target=pod_to_editor, daemon=True).start()
try:
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        s.sendall(data)
except OSError:
    pass
finish()
