# kgpu: runs `python -m debugpy.adapter` (argv after this script's own) for one debug session
# and stands between it and the pod agent's stream (stdlib only; sent with `python -c`, never
# written to the pod). Why: the agent ends a stream by signalling the process group it started,
# and debugpy starts the program in a process group of its own, so killing the adapter would leave
# the program running (or paused at a breakpoint, billing). Here the adapter runs in its own
# session, fed through a pipe; when the stream ends, fails or is reset (SIGTERM/SIGHUP), the pipe
# is closed, and debugpy, seeing its client gone, ends the program it launched and exits.
# First it sends the editor one DAP event of its own, `kgpu.pod` {python: sys.executable}: this
# script runs under the whole kgpu.python (e.g. `uv run python`, `env X=1 python3`), so that is the
# interpreter a wrapper resolves to; debugpy needs it to start its launcher (it would take the
# first word of a multi-word "python").
import json, os, signal, subprocess, sys, threading

argv = sys.argv[1:]
_hello = json.dumps({"seq": 0, "type": "event", "event": "kgpu.pod", "body": {"python": sys.executable}}).encode()
os.write(1, b"Content-Length: %d\r\n\r\n" % len(_hello) + _hello)
try:
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True)
except OSError as e:
    sys.stderr.write("kgpu-debug: cannot start %s: %s\n" % (argv[0] if argv else "?", e))
    sys.exit(127)


def close(*_):
    try:
        child.stdin.close()
    except Exception:
        pass


def reap():
    # The adapter ended (the session is over, or it could not start): so does this stream.
    code = child.wait()
    os._exit(code if code >= 0 else 128 - code)


threading.Thread(target=reap, daemon=True).start()
signal.signal(signal.SIGTERM, close)
signal.signal(signal.SIGHUP, close)
try:
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        child.stdin.write(data)
        child.stdin.flush()
except (OSError, ValueError):
    pass
close()
sys.exit(child.wait())
