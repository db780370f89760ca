# kgpu: the editor's end of a debug session on a job (stdlib only; sent with `python -c`): relays
# the agent stream (stdin/stdout) to debugpy listening on 127.0.0.1:<port> in the job. argv: port,
# job directory, on-disconnect ("stop" | "keepRunning"). When the stream ends — the session is over,
# the connection dropped, the agent reset the stream (SIGTERM/SIGHUP) — and the choice is "stop",
# the job is stopped (its whole process group: SIGTERM, SIGKILL after 5 s, recorded as a stop), so
# a program paused at a breakpoint never stays behind billing; with "keepRunning" it goes on
# (debugpy keeps listening: kgpu: Attach Debugger reattaches).
import os, signal, socket, sys, threading, time

port, jobdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
done = threading.Event()


def ended():
    return os.path.exists(jobdir + "/exit_code") or os.path.exists(jobdir + "/signal")


def stop_job():
    if mode != "stop" or ended():
        return
    try:
        pgid = int(open(jobdir + "/pgid").read().strip())
    except (OSError, ValueError):
        return
    # The stop outlives this process (the agent ends the stream's whole group): a child in its own session.
    if os.fork() == 0:
        os.setsid()
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
        os._exit(0)


def finish(*_):
    if not done.is_set():
        done.set()
        stop_job()
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
