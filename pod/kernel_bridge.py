"""kgpu kernel bridge: an IPython kernel in the pod that outlives the editor's connection.

One bridge per notebook kernel, detached from any SSH channel (its own session), started beside
the kernel and living as long as it. It holds the kernel's ZeroMQ connections (with the image's
jupyter_client and pyzmq — the kernel needs ipykernel anyway) and serves the editor over a Unix
socket that the editor reaches through the pod agent. The editor's side of the protocol is JSON
lines, one object per line:

  editor -> bridge
    {"op":"attach","since":N|null}   replay every record after seq N (null: after the last ack),
                                     then stream live; the first line back is a "hello" record
    {"op":"ack","seq":N}             records up to N were taken for good: free them
    {"op":"execute","id":ID,"code":S,"tag":any}  queue a cell (ID becomes the request's msg_id)
    {"op":"input","value":S}         answer the pending input_request
    {"op":"interrupt"} {"op":"shutdown"}
    {"op":"restart","env":{...}?,"python":[argv]?}  a new kernel process; with env, that is its kgpu.env
                                     (the editor's current one), with python its interpreter

  bridge -> editor: records {"seq":N,"ch":C,"type":T,"parent":msg_id|null,"content":{...}}
    ch "iopub" / "shell" / "stdin": the kernel's messages (stream, display_data, execute_result,
    error, clear_output, status, execute_input, execute_reply, input_request, ...);
    ch "bridge": "execute" (a request was queued: content {tag, code}), "restarting", "restarted",
    "died" {exit}, "dropped" {from, to} (records lost to the memory bound), "shutdown".
    The hello (seq 0, not stored) says {kernel pid, status, unfinished executions, last, acked}.

Records are kept until acknowledged, bounded by --max-bytes (oldest dropped with a marker), so a
dropped connection or a reloaded window loses nothing: the editor attaches again with the last
seq it saw (or, a new editor instance, with null) and gets exactly what it missed.

Usage: python3 kernel_bridge.py start --dir D --cwd CWD [--max-bytes N] [--python-argv JSON]
  Prints one JSON line: {"ok":true,"pid":P,"socket":S,"existing":bool,"python":[argv],"fallback":...}
  or {"ok":false,"code","error"}. D is a private directory (0700) for this kernel: s (the socket),
  pid, log, spec/kgpu/kernel.json (the kernel's command).
  --python-argv: the interpreter the kernel runs (kgpu.python or the project's venv, possibly a
  command such as `uv run python`); when it cannot import ipykernel the kernel runs this bridge's
  own python3 instead and the reply says why ("fallback": {"python", "error"}). The bridge itself
  always runs under the pod's python3 (it needs jupyter_client; the kernel needs only ipykernel).
"""

import argparse
import collections
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PROTO = 1
READ_LIMIT = 16 * 1024 * 1024  # one editor line (an execute's code) at most


def _json(o):
    return json.dumps(o, default=str, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = bytearray()
        self.out = bytearray()
        self.cursor = None  # next seq to send; None until attached

    def fileno(self):
        return self.sock.fileno()


class Bridge:
    def __init__(self, km, cwd, max_bytes, listener, log):
        import zmq

        self.zmq = zmq
        self.km = km
        self.ksm = None  # the kernelspec manager over this kernel's spec dir (see _serve)
        self.cwd = cwd
        self.max_bytes = max_bytes
        self.listener = listener
        self.log = log
        self.channels = 0  # bumped whenever the kernel sockets are replaced (a restart)
        self.connect_channels()
        self.records = collections.deque()  # (seq, bytes)
        self.bytes = 0
        self.seq = 0
        self.acked = 0
        self.lost_upto = 0
        self.clients = []
        self.execs = collections.OrderedDict()  # msg_id -> {"tag", "state"}
        self.seen = collections.OrderedDict()  # every execute id received (the last 100 000)
        self.status = "starting"
        self.pending_input = None  # the input_request message
        self.internal = set()  # msg_ids of the bridge's own requests
        self.dead = False
        self.running = True
        self.base_env = dict(os.environ)  # the kernel's environment without kgpu.env
        self.env = None  # the running kernel's environment (base_env + kgpu.env)
        self.python = None  # the kernel's argv prefix, the project's interpreter (see _kernel_python)
        self.dir = None

    def connect_channels(self):
        """New sockets to self.km's kernel (its session, ports and key)."""
        km = self.km
        self.session = km.session
        ident = self.session.bsession
        self.shell = km.connect_shell(identity=ident)
        self.stdin = km.connect_stdin(identity=ident)
        self.iopub = km.connect_iopub()
        self.control = km.connect_control(identity=ident)
        self.channels += 1

    def close_channels(self):
        for s in (self.shell, self.stdin, self.iopub, self.control):
            try:
                s.close(linger=0)
            except Exception:
                pass
        self.channels += 1  # serve() drops the closed sockets (a failed restart leaves none open)

    # --- records ---------------------------------------------------------------------------
    def emit(self, ch, typ, parent, content):
        self.seq += 1
        line = _json({"seq": self.seq, "ch": ch, "type": typ, "parent": parent, "content": content})
        self.records.append((self.seq, line))
        self.bytes += len(line)
        while self.bytes > self.max_bytes and len(self.records) > 1:
            s, old = self.records.popleft()
            self.bytes -= len(old)
            self.lost_upto = s
        for c in self.clients:
            self.pump(c)

    def first_seq(self):
        return self.records[0][0] if self.records else self.seq + 1

    def pump(self, c):
        if c.cursor is None:
            return
        first = self.first_seq()
        if c.cursor < first:
            if c.cursor <= self.lost_upto:
                # Records the client never got were dropped for the memory bound.
                c.out += _json({"seq": None, "ch": "bridge", "type": "dropped", "parent": None, "content": {"from": c.cursor, "to": self.lost_upto}})
            c.cursor = first
        i = c.cursor - first
        while len(c.out) < (1 << 20) and i < len(self.records):
            c.out += self.records[i][1]
            i += 1
        c.cursor = first + i
        self.flush(c)

    def flush(self, c):
        while c.out:
            try:
                n = c.sock.send(c.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.drop(c)
                return
            del c.out[:n]
            if not c.out and c.cursor is not None and c.cursor <= self.seq:
                self.pump(c)
                return

    def drop(self, c):
        if c in self.clients:
            self.clients.remove(c)
        try:
            c.sock.close()
        except OSError:
            pass

    def ack(self, seq):
        seq = min(int(seq), self.seq)
        if seq <= self.acked:
            return
        self.acked = seq
        while self.records and self.records[0][0] <= seq:
            _, line = self.records.popleft()
            self.bytes -= len(line)

    # --- the kernel ------------------------------------------------------------------------
    def wait_ready(self, timeout=60.0):
        """Until the kernel answers kernel_info on shell AND one of those requests' status messages
        arrives on iopub. A reply on shell alone does not prove iopub works: a SUB socket misses
        everything the kernel publishes before its subscription has reached the kernel (ZeroMQ's
        slow joiner), and a first cell run in that window loses all its iopub messages (its output
        and the idle status that ends it) — the cell never completes. So, as Jupyter's own clients
        do ("nudge"), ask again until iopub has answered too."""
        zmq = self.zmq
        started = time.monotonic()
        deadline = started + timeout
        poller = zmq.Poller()
        poller.register(self.shell, zmq.POLLIN)
        poller.register(self.iopub, zmq.POLLIN)
        shell_at = iopub_at = None
        asked = 0
        while time.monotonic() < deadline:
            if not self.km.is_alive():
                raise RuntimeError("the kernel exited while starting (see the bridge log)")
            self.internal.add(self.session.send(self.shell, "kernel_info_request", {})["header"]["msg_id"])
            asked += 1
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                for sock, _ in poller.poll(100):
                    while True:
                        try:
                            _, msg = self.session.recv(sock, mode=zmq.NOBLOCK)
                        except zmq.ZMQError:
                            break
                        if msg is None:
                            break
                        parent = (msg.get("parent_header") or {}).get("msg_id")
                        if sock is self.shell and msg["msg_type"] == "kernel_info_reply" and shell_at is None:
                            shell_at = time.monotonic()
                        if sock is self.iopub and parent in self.internal and iopub_at is None:
                            iopub_at = time.monotonic()
                if shell_at is not None and iopub_at is not None:
                    self.status = "idle"
                    self.log.write(
                        "kernel ready: shell answered after %.3f s, iopub after %.3f s (%d kernel_info requests)\n"
                        % (shell_at - started, iopub_at - started, asked)
                    )
                    return
        raise RuntimeError("the kernel did not answer within %d s" % timeout)

    def on_kernel(self, sock, ch):
        zmq = self.zmq
        while True:
            try:
                _, msg = self.session.recv(sock, mode=zmq.NOBLOCK)
            except zmq.ZMQError:
                return
            if msg is None:
                return
            typ = msg["msg_type"]
            parent = (msg.get("parent_header") or {}).get("msg_id")
            content = msg.get("content") or {}
            if parent in self.internal:
                continue  # the bridge's own kernel_info handshake: not a client's business
            if ch == "iopub" and typ == "status":
                state = content.get("execution_state")
                if parent in self.execs:
                    if state == "busy":
                        self.execs[parent]["state"] = "running"
                    elif state == "idle":
                        self.execs.pop(parent, None)
                self.status = state or self.status
            if ch == "stdin" and typ == "input_request":
                self.pending_input = msg
            # Binary buffers (ipywidgets) are not forwarded.
            self.emit(ch, typ, parent, content)

    def execute(self, op):
        msg_id = str(op.get("id") or "")
        if not msg_id or msg_id in self.seen:
            return  # sent again by an editor that could not know it arrived
        self.seen[msg_id] = True
        while len(self.seen) > 100000:
            self.seen.popitem(last=False)
        msg = self.session.msg(
            "execute_request",
            {"code": str(op.get("code", "")), "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": True, "stop_on_error": True},
        )
        msg["header"]["msg_id"] = msg_id
        self.execs[msg_id] = {"tag": op.get("tag"), "state": "queued"}
        self.emit("bridge", "execute", msg_id, {"tag": op.get("tag"), "code": str(op.get("code", ""))})
        if self.dead:
            self.execs.pop(msg_id, None)
            self.emit("bridge", "died", msg_id, {"exit": None, "message": "The kernel is not running; restart it."})
            return
        self.session.send(self.shell, msg)

    def finish_all(self, typ, content):
        for msg_id in list(self.execs):
            self.execs.pop(msg_id, None)
        self.pending_input = None
        self.emit("bridge", typ, None, content)

    def restart(self, op=None):
        """A new kernel: the old one shut down, a NEW KernelManager (fresh ports, session key and
        connection file) and new sockets to it, ready only once shell and iopub both answer. Not
        jupyter_client's restart_kernel: that keeps the manager's provisioner and the bridge's
        sockets, which then reconnect to the new process on their own schedule, and a cell sent
        right after the restart could run before iopub was subscribed again (see wait_ready)."""
        op = op or {}
        self.emit("bridge", "restarting", None, {})
        env = self.env
        if isinstance(op.get("env"), dict):
            env = dict(self.base_env)
            env.update(_clean_env(op["env"]))  # replaces the environment the kernel was first started with
        fallback = None
        argv = op.get("python")
        if self.dir and isinstance(argv, list) and argv and all(isinstance(a, str) and a for a in argv):
            self.python, fallback = _kernel_python(argv, self.cwd, env)
        self.pending_input = None
        self.close_channels()
        try:
            self.km.shutdown_kernel(now=True)
        except Exception as e:  # noqa: BLE001 — the old kernel may be gone already
            self.log.write("restart: shutting the old kernel down: %s\n" % e)
        self.dead = False
        self.status = "starting"
        try:
            self.km = _start_kernel(self.dir, self.ksm, self.python, self.cwd, env)
            self.env = env
            self.connect_channels()
            self.wait_ready()
        except Exception as e:  # noqa: BLE001 — reported to the editor as is
            self.dead = True
            self.status = "dead"
            self.finish_all("died", {"exit": None, "message": "The kernel did not restart: %s" % e})
            return
        self.finish_all("restarted", {"pid": self.kernel_pid(), "python": self.python, "fallback": fallback})

    def kernel_pid(self):
        try:
            return self.km.provisioner.process.pid
        except Exception:
            return None

    def hello(self):
        return {
            "seq": 0,
            "ch": "bridge",
            "type": "hello",
            "parent": None,
            "content": {
                "proto": PROTO,
                "pid": os.getpid(),
                "kernel_pid": self.kernel_pid(),
                "cwd": self.cwd,
                "status": "dead" if self.dead else self.status,
                "execs": [{"id": k, "tag": v["tag"], "state": v["state"]} for k, v in self.execs.items()],
                "input": (self.pending_input or {}).get("content"),
                "last": self.seq,
                "acked": self.acked,
            },
        }

    # --- the editor side -------------------------------------------------------------------
    def on_client_line(self, c, line):
        try:
            op = json.loads(line)
        except ValueError:
            return
        if not isinstance(op, dict):
            return
        kind = op.get("op")
        if kind == "attach":
            since = op.get("since")
            since = self.acked if since is None else max(int(since), self.acked)
            c.out += _json(self.hello())
            c.cursor = since + 1
            self.pump(c)
        elif kind == "ack":
            self.ack(op.get("seq", 0))
        elif kind == "execute":
            self.execute(op)
        elif kind == "input":
            req = self.pending_input
            self.pending_input = None
            if req is not None:
                self.session.send(self.stdin, "input_reply", {"value": str(op.get("value", ""))}, parent=req["header"])
        elif kind == "interrupt":
            if not self.dead:
                self.km.interrupt_kernel()
        elif kind == "restart":
            self.restart(op)
        elif kind == "shutdown":
            self.finish_all("shutdown", {})
            for cl in list(self.clients):
                cl.sock.setblocking(True)
                self.flush(cl)
            self.running = False

    def on_client_readable(self, c):
        try:
            data = c.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(c)
            return
        c.inbuf += data
        while True:
            nl = c.inbuf.find(b"\n")
            if nl < 0:
                if len(c.inbuf) > READ_LIMIT:
                    self.drop(c)
                return
            line = bytes(c.inbuf[:nl])
            del c.inbuf[: nl + 1]
            self.on_client_line(c, line)

    def check_kernel(self):
        if self.dead or self.km.is_alive():
            return
        self.dead = True
        code = None
        try:
            code = self.km.provisioner.process.returncode
        except Exception:
            pass
        self.status = "dead"
        self.finish_all("died", {"exit": code, "message": "The kernel process exited (code %s)." % code})

    def serve(self):
        zmq = self.zmq
        poller = zmq.Poller()
        poller.register(self.listener.fileno(), zmq.POLLIN)
        registered = {}
        names = {}
        channels = None
        last_check = time.monotonic()
        while self.running:
            if channels != self.channels:
                # The kernel's sockets (new after a restart).
                for s in names:
                    try:
                        poller.unregister(s)
                    except KeyError:
                        pass
                names = {self.shell: "shell", self.stdin: "stdin", self.iopub: "iopub", self.control: "control"}
                names = {s: n for s, n in names.items() if not s.closed}
                for s in names:
                    poller.register(s, zmq.POLLIN)
                channels = self.channels
            # Clients: read always, write while something waits.
            live = {c.fileno(): c for c in self.clients}
            for fd in list(registered):
                if fd not in live:
                    try:
                        poller.unregister(fd)
                    except KeyError:
                        pass
                    del registered[fd]
            for fd, c in live.items():
                mask = zmq.POLLIN | (zmq.POLLOUT if c.out else 0)
                if registered.get(fd) != mask:
                    if fd in registered:
                        poller.modify(fd, mask)
                    else:
                        poller.register(fd, mask)
                    registered[fd] = mask
            for s, ev in poller.poll(500):
                if channels != self.channels:
                    break  # a restart replaced the sockets this poll reported
                if s in names:
                    self.on_kernel(s, names[s])
                elif s == self.listener.fileno():
                    try:
                        conn, _ = self.listener.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    self.clients.append(Client(conn))
                else:
                    c = live.get(s)
                    if c is None or c not in self.clients:
                        continue
                    if ev & zmq.POLLIN:
                        self.on_client_readable(c)
                    if c in self.clients and ev & zmq.POLLOUT:
                        self.flush(c)
            now = time.monotonic()
            if now - last_check > 1.0:
                last_check = now
                self.check_kernel()
        try:
            self.km.shutdown_kernel(now=True)
        except Exception:
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError as e:
        return e.errno == errno.EPERM


def _existing(d):
    try:
        with open(os.path.join(d, "pid")) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not _alive(pid):
        return None
    sock = os.path.join(d, "s")
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock)
        s.close()
    except OSError:
        return None
    return pid


def _clean_env(raw):
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and k and "=" not in k}


def _kernel_python(argv, cwd, env):
    """The kernel's interpreter: `argv` when it can import ipykernel, else this bridge's own python3.
    Returns (argv, fallback): fallback {"python", "error"} says why the project's was not used."""
    argv = list(argv)
    env = env if env is not None else dict(os.environ)
    if os.sep not in argv[0]:
        # jupyter_client swaps a bare "python"/"python3" for its own interpreter: name the file.
        argv[0] = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
    shown = " ".join(argv)
    try:
        r = subprocess.run(argv + ["-c", "import ipykernel"], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        if r.returncode == 0:
            return argv, None
        lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1][:500] if lines else "exit %d" % r.returncode
    except (OSError, subprocess.SubprocessError) as e:
        why = str(e)[:500]
    return [sys.executable], {"python": shown, "error": why}


def _write_spec(d, argv):
    sd = os.path.join(d, "spec", "kgpu")
    os.makedirs(sd, mode=0o700, exist_ok=True)
    spec = {"argv": list(argv) + ["-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "kgpu", "language": "python", "interrupt_mode": "signal"}
    with open(os.path.join(sd, "kernel.json.tmp"), "w") as f:
        json.dump(spec, f)
    os.rename(os.path.join(sd, "kernel.json.tmp"), os.path.join(sd, "kernel.json"))


def _start_kernel(d, ksm, python, cwd, env):
    """A new KernelManager running `python` (its spec written first) in `cwd` with `env`."""
    from jupyter_client.manager import KernelManager

    _write_spec(d, python)
    km = KernelManager(kernel_name="kgpu", kernel_spec_manager=ksm, connection_file=os.path.join(d, "kernel.json"))
    km.start_kernel(cwd=cwd, env=env)
    return km


def _spec_python(d):
    """The interpreter of the running kernel's spec (what _write_spec wrote), or None."""
    try:
        with open(os.path.join(d, "spec", "kgpu", "kernel.json")) as f:
            argv = json.load(f)["argv"]
        return argv[:-4] if isinstance(argv, list) and len(argv) > 4 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _serve(d, cwd, max_bytes, report, extra_env, python_argv=None):
    """In the detached child: start the kernel, listen, report readiness on `report` (an fd)."""
    log = open(os.path.join(d, "log"), "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
    except ImportError as e:
        os.write(report, _json({"ok": False, "code": "no-jupyter", "error": "The pod's python3 has no jupyter_client/ipykernel (%s). Install them in the pod: pip install ipykernel" % e}))
        return 3
    sock_path = os.path.join(d, "s")
    try:
        os.unlink(sock_path)
    except OSError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    listener.bind(sock_path)
    os.umask(old)
    listener.listen(8)
    listener.setblocking(False)
    base_env = dict(os.environ)
    env = dict(base_env)
    env.update(extra_env)
    python, fallback = _kernel_python(python_argv or [sys.executable], cwd, env)
    km = None
    try:
        ksm = KernelSpecManager(kernel_dirs=[os.path.join(d, "spec")])
        km = _start_kernel(d, ksm, python, cwd, env)
        bridge = Bridge(km, cwd, max_bytes, listener, log)
        bridge.ksm = ksm
        bridge.base_env = base_env
        bridge.env = env
        bridge.python = python
        bridge.dir = d
        bridge.wait_ready()
    except Exception as e:  # noqa: BLE001 — reported to the editor as is
        os.write(report, _json({"ok": False, "code": "kernel-start", "error": "The kernel did not start: %s" % e}))
        try:
            if km is not None:
                km.shutdown_kernel(now=True)
        except Exception:
            pass
        return 4
    with open(os.path.join(d, "pid.tmp"), "w") as f:
        f.write("%d %s\n" % (os.getpid(), bridge.kernel_pid()))
    os.rename(os.path.join(d, "pid.tmp"), os.path.join(d, "pid"))
    os.write(report, _json({"ok": True, "pid": os.getpid(), "kernel_pid": bridge.kernel_pid(), "socket": sock_path, "existing": False, "python": python, "fallback": fallback}))
    os.close(report)
    signal.signal(signal.SIGTERM, lambda *_: setattr(bridge, "running", False))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        bridge.serve()
    finally:
        for name in ("s", "pid"):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass
    return 0


def _take_env():
    """kgpu.env from the start exec (KGPU_KERNEL_ENV, a JSON object read from stdin by the shell):
    for the kernel only — removed from this process's own environment."""
    raw = os.environ.pop("KGPU_KERNEL_ENV", "") or "{}"
    try:
        return _clean_env(json.loads(raw))
    except ValueError:
        return {}


def start(d, cwd, max_bytes, python_argv=None):
    extra_env = _take_env()
    old = os.umask(0o077)
    os.makedirs(d, mode=0o700, exist_ok=True)
    os.umask(old)
    st = os.lstat(d)
    if not os.path.isdir(d) or os.path.islink(d) or st.st_uid != os.getuid():
        print(json.dumps({"ok": False, "code": "unsafe-dir", "error": "%s is not a private directory" % d}))
        return 2
    lock = open(os.path.join(d, "lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    pid = _existing(d)
    if pid is not None:
        print(json.dumps({"ok": True, "pid": pid, "socket": os.path.join(d, "s"), "existing": True, "python": _spec_python(d)}))
        return 0
    if not os.path.isdir(cwd):
        print(json.dumps({"ok": False, "code": "no-cwd", "error": "The folder %s is not in the pod" % cwd}))
        return 2
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd, 0)
        lock.close()
        code = 1
        try:
            code = _serve(d, cwd, max_bytes, w, extra_env, python_argv)
        finally:
            os._exit(code)
    os.close(w)
    os.waitpid(child, 0)
    out = b""
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        out += b
    line = out.decode("utf-8", "replace").strip() or json.dumps({"ok": False, "code": "bridge-died", "error": "The kernel bridge exited while starting; see %s/log" % d})
    print(line)
    return 0 if json.loads(line).get("ok") else 3


def main(argv):
    p = argparse.ArgumentParser(prog="kernel_bridge")
    p.add_argument("cmd", choices=["start"])
    p.add_argument("--dir", required=True)
    p.add_argument("--cwd", required=True)
    p.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
    p.add_argument("--python-argv", default=None)
    a = p.parse_args(argv)
    python_argv = None
    if a.python_argv:
        try:
            python_argv = json.loads(a.python_argv)
        except ValueError:
            python_argv = None
        if not (isinstance(python_argv, list) and python_argv and all(isinstance(x, str) and x for x in python_argv)):
            print(json.dumps({"ok": False, "code": "bad-python", "error": "--python-argv is not a list of words"}))
            return 2
    return start(a.dir, a.cwd, a.max_bytes, python_argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
