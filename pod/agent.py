"""kgpu pod agent: many independent byte streams over this process's stdin/stdout.

The kgpu bastion serves one channel per SSH connection and no port forwarding, so the extension
starts this program once over one exec channel and multiplexes every stream it needs through it:
TCP connections to pod-local (loopback) addresses, Unix sockets, and spawned processes. Each
stream has its own credit window, so a stream nobody reads never stalls the others. The wire
format is described in docs/agent-protocol.md; the client is src/kgpu/agent/.

Standard library only, Python >= 3.8. Placed in the pod by the extension under a name carrying
the sha256 of this file, in a private directory (0700) outside /workspace. It exits when its
stdin ends (the SSH channel closed), on SIGHUP/SIGTERM, or after a malformed frame (reported in
an ERROR frame first); processes it started are killed with it.
"""
import collections
import errno
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

PROTO = 1
HEADER = struct.Struct(">BII")  # type, stream id, payload length
HEADER_LEN = HEADER.size
U32 = struct.Struct(">I")
MAX_PAYLOAD = 256 * 1024  # a larger length is refused before anything is allocated
CHUNK = 64 * 1024  # largest DATA/STDERR payload this agent sends
# Largest read from a target: one read and one turn of the event loop yield up to 4 frames. The
# agent's cost is per turn (select, selector updates, a write), not per byte: one frame per turn
# cost it 3.6-6 ms of CPU per MB, 2.4-3.9 ms with these reads (docs/agent-protocol.md, "Throughput").
READ_MAX = 4 * CHUNK
PIPE_BYTES = 1024 * 1024  # a process's pipes: room for READ_MAX (Linux's default pipe-max-size)
MAX_WINDOW = 0x7FFFFFFF
RECV_WINDOW = 256 * 1024  # what each stream may have in flight towards its target
OUT_HIGH = 256 * 1024  # stop reading targets while this much waits for stdout
IN_PAUSE = 4 * 1024 * 1024  # stop reading stdin while this much waits for stdout
MAX_STREAMS = 4096
MAX_PING = 64
KILL_GRACE_S = 2.0

(HELLO, OPEN, OPEN_OK, OPEN_FAIL, DATA, STDERR, WINDOW, EOF, CLOSE, RESET, EXIT, PING, PONG, ERROR, BLOCKED) = range(1, 16)
NAMES = {
    HELLO: "HELLO", OPEN: "OPEN", OPEN_OK: "OPEN_OK", OPEN_FAIL: "OPEN_FAIL", DATA: "DATA",
    STDERR: "STDERR", WINDOW: "WINDOW", EOF: "EOF", CLOSE: "CLOSE", RESET: "RESET", EXIT: "EXIT",
    PING: "PING", PONG: "PONG", ERROR: "ERROR", BLOCKED: "BLOCKED",
}

AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class ProtocolError(Exception):
    pass


class OpenFailed(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


class Shutdown(Exception):
    pass


def errno_name(e):
    return errno.errorcode.get(getattr(e, "errno", None) or 0, "EIO")


def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def jload(payload, what):
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("%s: the payload is not UTF-8 JSON" % what)
    if not isinstance(value, dict):
        raise ProtocolError("%s: the payload is not a JSON object" % what)
    return value


def loopback_addresses(host):
    """The socket addresses to try for a TCP target, or OpenFailed: loopback only, never a relay."""
    import ipaddress

    if host == "localhost":
        return [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback:
        raise OpenFailed(
            "EPERM",
            "the agent only connects to loopback addresses (127.0.0.0/8, ::1, localhost) and Unix sockets "
            "inside the pod; %r is not one" % (host,),
        )
    return [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, str(ip))]


def pdeathsig():
    """In the child before exec: die with the agent (Linux prctl PR_SET_PDEATHSIG), best effort."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


class Stream(object):
    """One stream: credit in both directions, bytes waiting for the target, half-close state."""

    def __init__(self, agent, sid, send_credit):
        self.agent = agent
        self.sid = sid
        self.send_credit = send_credit  # bytes we may still send to the client
        self.recv_credit = 0  # bytes the client may still send us (granted at OPEN_OK)
        self.wbuf = collections.deque()
        self.wlen = 0
        self.ungranted = 0
        self.opened = False
        self.client_eof = False
        self.sent_eof = False
        self.gone = False
        self.blocked = False  # BLOCKED sent since the credit last ran out

    # --- from the client ---
    def data(self, payload):
        if self.client_eof:
            raise ProtocolError("DATA after EOF on stream %d" % self.sid)
        if len(payload) > self.recv_credit:
            raise ProtocolError(
                "stream %d: %d bytes of DATA exceed the window of %d" % (self.sid, len(payload), self.recv_credit)
            )
        self.recv_credit -= len(payload)
        if payload:
            self.wbuf.append(payload)
            self.wlen += len(payload)
        self.refresh()

    def window(self, inc):
        if inc < 1 or self.send_credit + inc > MAX_WINDOW:
            raise ProtocolError("stream %d: WINDOW of %d overflows the credit of %d" % (self.sid, inc, self.send_credit))
        self.send_credit += inc
        self.blocked = False
        self.refresh()

    def eof(self):
        if self.client_eof:
            raise ProtocolError("EOF twice on stream %d" % self.sid)
        self.client_eof = True
        self.refresh()

    def reset(self):
        self.finish(None)

    # --- towards the client ---
    def consumed(self, n):
        """n bytes left wbuf for the target: hand the credit back (batched)."""
        self.ungranted += n
        if self.ungranted and (self.ungranted >= RECV_WINDOW // 4 or self.wlen == 0):
            self.agent.send(WINDOW, self.sid, U32.pack(self.ungranted))
            self.recv_credit += self.ungranted
            self.ungranted = 0

    def take(self, limit):
        """Pop up to `limit` bytes from wbuf (a memoryview or bytes)."""
        head = self.wbuf[0]
        if len(head) <= limit:
            self.wbuf.popleft()
            return head
        self.wbuf[0] = head[limit:]
        return head[:limit]

    def readable_budget(self):
        if not self.opened or self.gone or self.agent.congested:
            return 0
        return min(self.send_credit, READ_MAX)

    def send_output(self, kind, data):
        self.send_credit -= len(data)
        if len(data) <= CHUNK:
            self.agent.send(kind, self.sid, data)
        else:
            # One read, several frames of at most CHUNK (slices of one buffer, not copies).
            view = memoryview(data)
            for i in range(0, len(data), CHUNK):
                self.agent.send(kind, self.sid, view[i:i + CHUNK])
        if self.send_credit == 0 and not self.blocked:
            # Tell the client its window, not its reader, is what holds this stream back: a
            # client whose reader keeps up grows the window (up to its maximum).
            self.blocked = True
            self.agent.send(BLOCKED, self.sid, b"")

    def fail(self, code, message):
        """Reset by this side: tell the client, free everything."""
        if self.gone:
            return
        self.agent.send(RESET, self.sid, jdump({"code": code, "message": message}))
        self.finish(None)

    def finish(self, frame):
        """Free the stream; send `frame` (CLOSE) if given."""
        if self.gone:
            return
        self.gone = True
        self.release()
        self.agent.streams.pop(self.sid, None)
        if frame is not None:
            self.agent.send(frame, self.sid, b"")

    # subclasses
    def refresh(self):
        raise NotImplementedError

    def release(self):
        raise NotImplementedError


class SocketStream(Stream):
    def __init__(self, agent, sid, send_credit, candidates, label):
        Stream.__init__(self, agent, sid, send_credit)
        self.candidates = list(candidates)  # [(family, sockaddr)]
        self.label = label
        self.sock = None
        self.shut_wr = False
        self.last_error = None

    def start(self):
        self.connect_next()

    def connect_next(self):
        while self.candidates:
            family, addr = self.candidates.pop(0)
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex(addr)
            if err in (0, errno.EINPROGRESS):
                self.sock = sock
                self.agent.watch(sock.fileno(), selectors.EVENT_WRITE, self.on_connect)
                return
            sock.close()
            self.last_error = err
        err = self.last_error or errno.ECONNREFUSED
        self.agent.open_failed(self, errno.errorcode.get(err, "EIO"), "cannot connect to %s: %s" % (self.label, os.strerror(err)))

    def on_connect(self, mask):
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.agent.unwatch(self.sock.fileno())
            self.sock.close()
            self.sock = None
            self.last_error = err
            self.connect_next()
            return
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.agent.opened(self, {})
        self.refresh()

    def refresh(self):
        if self.gone or not self.opened:
            return
        if self.wlen:
            self.flush()
            if self.gone:
                return
        if self.client_eof and not self.wlen and not self.shut_wr:
            self.shut_wr = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            if self.sent_eof:
                return self.finish(CLOSE)
        events = 0
        if not self.sent_eof and self.readable_budget() > 0:
            events |= selectors.EVENT_READ
        if self.wlen:
            events |= selectors.EVENT_WRITE
        self.agent.watch(self.sock.fileno(), events, self.on_event)

    def on_event(self, mask):
        if mask & selectors.EVENT_READ:
            self.read()
        if not self.gone and mask & selectors.EVENT_WRITE:
            self.flush()
        self.refresh()

    def read(self):
        n = self.readable_budget()
        if n <= 0 or self.sent_eof:
            return
        try:
            data = self.sock.recv(n)
        except OSError as e:
            if e.errno in AGAIN:
                return
            return self.fail(errno_name(e), "%s: %s" % (self.label, e.strerror))
        if not data:
            self.sent_eof = True
            self.agent.send(EOF, self.sid, b"")
            if self.shut_wr:
                self.finish(CLOSE)
            return
        self.send_output(DATA, data)

    def flush(self):
        while self.wbuf:
            chunk = self.take(CHUNK)
            try:
                n = self.sock.send(chunk)
            except OSError as e:
                self.wbuf.appendleft(chunk)
                if e.errno in AGAIN:
                    return
                return self.fail(errno_name(e), "%s: %s" % (self.label, e.strerror))
            if n < len(chunk):
                self.wbuf.appendleft(chunk[n:])
            self.wlen -= n
            self.consumed(n)
            if n < len(chunk):
                return

    def release(self):
        if self.sock is not None:
            self.agent.unwatch(self.sock.fileno())
            self.sock.close()
            self.sock = None


class ProcessStream(Stream):
    def __init__(self, agent, sid, send_credit, spec):
        Stream.__init__(self, agent, sid, send_credit)
        argv = spec.get("argv")
        cwd = spec.get("cwd")
        env = spec.get("env")
        mode = spec.get("stderr", "pipe")
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise OpenFailed("EINVAL", "a process needs argv: a non-empty list of strings")
        if cwd is not None and not isinstance(cwd, str):
            raise OpenFailed("EINVAL", "cwd must be a string")
        if env is not None and not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise OpenFailed("EINVAL", "env must map strings to strings")
        if mode not in ("pipe", "merge", "discard"):
            raise OpenFailed("EINVAL", "stderr must be pipe, merge or discard")
        self.spec = (argv, cwd, env, mode)
        self.label = argv[0]
        self.proc = None
        self.stdin = None
        self.outs = {}
        self.readers = {}
        self.stdin_broken = False
        self.returncode = None

    def start(self):
        import subprocess

        argv, cwd, env, mode = self.spec
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        stderr = {"pipe": subprocess.PIPE, "merge": subprocess.STDOUT, "discard": subprocess.DEVNULL}[mode]
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd, env=full_env,
                start_new_session=True, preexec_fn=pdeathsig,
            )
        except (OSError, ValueError) as e:
            code = errno_name(e) if isinstance(e, OSError) else "EINVAL"
            return self.agent.open_failed(self, code, "cannot start %s: %s" % (argv[0], getattr(e, "strerror", None) or e))
        self.stdin = self.proc.stdin.fileno()
        self.outs = {self.proc.stdout.fileno(): DATA}
        if self.proc.stderr is not None:
            self.outs[self.proc.stderr.fileno()] = STDERR
        for fd in [self.stdin] + list(self.outs):
            os.set_blocking(fd, False)
            grow_pipe(fd)
        self.agent.processes[self.proc.pid] = self
        self.agent.opened(self, {"pid": self.proc.pid})
        self.refresh()

    def refresh(self):
        if self.gone:
            return
        if self.wlen:
            self.flush()
        if self.client_eof and not self.wlen and self.stdin is not None:
            self.close_stdin()
        read = self.readable_budget() > 0
        for fd in self.outs:
            self.agent.watch(fd, selectors.EVENT_READ if read else 0, self.reader(fd))

        if self.stdin is not None:
            self.agent.watch(self.stdin, selectors.EVENT_WRITE if self.wlen else 0, self.on_writable)
        self.maybe_done()

    def reader(self, fd):
        cb = self.readers.get(fd)
        if cb is None:

            def cb(mask):
                self.read(fd)
                self.refresh()

            self.readers[fd] = cb
        return cb

    def read(self, fd):
        n = self.readable_budget()
        if n <= 0 or fd not in self.outs:
            return
        try:
            data = os.read(fd, n)
        except OSError as e:
            if e.errno in AGAIN:
                return
            data = b""
        if not data:
            self.agent.unwatch(fd)
            kind = self.outs.pop(fd)
            (self.proc.stdout if kind == DATA else self.proc.stderr).close()
            if not self.outs:
                self.sent_eof = True
                self.agent.send(EOF, self.sid, b"")
            return
        self.send_output(self.outs[fd], data)

    def on_writable(self, mask):
        self.flush()
        self.refresh()

    def flush(self):
        while self.wbuf:
            chunk = self.take(CHUNK)
            if self.stdin_broken or self.stdin is None:
                n = len(chunk)  # the process no longer reads its stdin: drop, keep the credit flowing
            else:
                try:
                    n = os.write(self.stdin, chunk)
                except OSError as e:
                    if e.errno in AGAIN:
                        self.wbuf.appendleft(chunk)
                        return
                    self.stdin_broken = True
                    n = len(chunk)
            if n < len(chunk):
                self.wbuf.appendleft(chunk[n:])
            self.wlen -= n
            self.consumed(n)
            if n < len(chunk):
                return

    def close_stdin(self):
        self.agent.unwatch(self.stdin)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.stdin = None

    def exited(self, returncode):
        self.returncode = returncode
        self.maybe_done()

    def maybe_done(self):
        if self.gone or self.returncode is None or self.outs:
            return
        rc = self.returncode
        if rc >= 0:
            info = {"code": rc}
        else:
            try:
                info = {"signal": signal.Signals(-rc).name}
            except ValueError:
                info = {"signal": "SIG%d" % -rc}
        self.agent.send(EXIT, self.sid, jdump(info))
        self.finish(CLOSE)

    def release(self):
        if self.proc is None:
            return
        for fd in list(self.outs):
            self.agent.unwatch(fd)
        self.outs = {}
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        if self.stdin is not None:
            self.close_stdin()
        if self.returncode is None:
            self.agent.terminate(self.proc)
        else:
            self.agent.processes.pop(self.proc.pid, None)


class Agent(object):
    def __init__(self, stdin_fd, stdout_fd, hello):
        self.sel = selectors.DefaultSelector()
        self.fds = {}  # fd -> [events, callback]
        self.stdin = stdin_fd
        self.stdout = stdout_fd
        self.inbuf = bytearray()
        self.out = collections.deque()
        self.out_bytes = 0
        self.congested = False
        self.streams = {}
        self.max_id = 0
        self.hello_seen = False
        self.processes = {}  # pid -> ProcessStream, or Popen while being killed
        self.timers = []  # (deadline, fn)
        self.stdin_open = True
        for fd in (stdin_fd, stdout_fd):
            os.set_blocking(fd, False)
        self.wake_r, self.wake_w = socket.socketpair()
        for s in (self.wake_r, self.wake_w):
            s.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda n, f: None)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        self.watch(self.wake_r.fileno(), selectors.EVENT_READ, self.on_wake)
        self.watch(stdin_fd, selectors.EVENT_READ, self.on_stdin)
        # A text line first: the client skips anything a login script printed before it.
        self.out.append(b"KGPU-AGENT-READY %d\n" % PROTO)
        self.out_bytes += len(self.out[0])
        self.send(HELLO, 0, jdump(hello))

    # --- selector bookkeeping ---
    def watch(self, fd, events, callback):
        cur = self.fds.get(fd)
        if cur is None:
            if events:
                self.sel.register(fd, events, callback)
                self.fds[fd] = [events, callback]
            return
        if not events:
            return self.unwatch(fd)
        if cur[0] != events or cur[1] is not callback:
            self.sel.modify(fd, events, callback)
            cur[0] = events
            cur[1] = callback

    def unwatch(self, fd):
        if self.fds.pop(fd, None) is not None:
            self.sel.unregister(fd)

    # --- output ---
    def send(self, kind, sid, payload):
        self.out.append(HEADER.pack(kind, sid, len(payload)))
        if payload:
            self.out.append(payload)
        self.out_bytes += HEADER_LEN + len(payload)

    def flush_out(self):
        while self.out:
            iov = list(self.out)[:64]
            try:
                n = os.writev(self.stdout, iov)
            except OSError as e:
                if e.errno in AGAIN:
                    break
                raise Shutdown()  # the client is gone
            self.out_bytes -= n
            while n:
                head = self.out[0]
                if len(head) <= n:
                    n -= len(head)
                    self.out.popleft()
                else:
                    self.out[0] = memoryview(head)[n:]
                    n = 0
        self.watch(self.stdout, selectors.EVENT_WRITE if self.out else 0, self.on_stdout)

    def on_stdout(self, mask):
        self.flush_out()

    def update_congestion(self):
        congested = self.out_bytes >= OUT_HIGH
        if congested != self.congested:
            self.congested = congested
            for s in list(self.streams.values()):
                s.refresh()
        if self.stdin_open:
            self.watch(self.stdin, 0 if self.out_bytes >= IN_PAUSE else selectors.EVENT_READ, self.on_stdin)

    # --- input ---
    def on_stdin(self, mask):
        try:
            data = os.read(self.stdin, 256 * 1024)
        except OSError as e:
            if e.errno in AGAIN:
                return
            data = b""
        if not data:
            raise Shutdown()
        self.inbuf += data
        self.parse()

    def parse(self):
        buf = self.inbuf
        pos = 0
        end = len(buf)
        try:
            while end - pos >= HEADER_LEN:
                kind, sid, n = HEADER.unpack_from(buf, pos)
                if kind not in NAMES:
                    raise ProtocolError("unknown frame type 0x%02x" % kind)
                if n > MAX_PAYLOAD:
                    raise ProtocolError("a %s frame of %d bytes exceeds the %d-byte limit" % (NAMES[kind], n, MAX_PAYLOAD))
                if end - pos - HEADER_LEN < n:
                    break
                start = pos + HEADER_LEN
                payload = bytes(buf[start:start + n])
                pos = start + n
                self.frame(kind, sid, payload)
        finally:
            del buf[:pos]

    def frame(self, kind, sid, payload):
        if not self.hello_seen:
            if kind != HELLO or sid != 0:
                raise ProtocolError("the first frame must be HELLO, got %s" % NAMES[kind])
            hello = jload(payload, "HELLO")
            if hello.get("proto") != PROTO:
                raise ProtocolError("unsupported protocol version %r (this agent speaks %d)" % (hello.get("proto"), PROTO))
            self.hello_seen = True
            return
        if sid == 0:
            if kind == PING:
                if len(payload) > MAX_PING:
                    raise ProtocolError("PING payload of %d bytes (at most %d)" % (len(payload), MAX_PING))
                return self.send(PONG, 0, payload)
            if kind == PONG:
                return
            if kind == ERROR:
                raise Shutdown()
            raise ProtocolError("%s frame on stream 0" % NAMES[kind])
        if kind == OPEN:
            return self.open(sid, payload)
        stream = self.streams.get(sid)
        if stream is None:
            if sid > self.max_id:
                raise ProtocolError("%s frame for stream %d, which was never opened" % (NAMES[kind], sid))
            return  # a stream that ended here while the client's frame was on its way
        if kind == DATA:
            stream.data(payload)
        elif kind == WINDOW:
            if len(payload) != 4:
                raise ProtocolError("WINDOW payload of %d bytes (4 expected)" % len(payload))
            stream.window(U32.unpack(payload)[0])
        elif kind == EOF:
            if payload:
                raise ProtocolError("EOF with a payload")
            stream.eof()
        elif kind == RESET:
            stream.reset()
        else:
            raise ProtocolError("unexpected %s frame from the client" % NAMES[kind])

    def open(self, sid, payload):
        if sid <= self.max_id:
            raise ProtocolError("OPEN reuses stream id %d (ids must increase; last %d)" % (sid, self.max_id))
        if len(payload) < 4:
            raise ProtocolError("OPEN payload too short")
        self.max_id = sid
        window = U32.unpack_from(payload, 0)[0]
        if window < 1 or window > MAX_WINDOW:
            raise ProtocolError("OPEN with a window of %d" % window)
        target = jload(payload[4:], "OPEN")
        if len(self.streams) >= MAX_STREAMS:
            return self.send(OPEN_FAIL, sid, jdump({"code": "EMFILE", "message": "too many open streams (%d)" % MAX_STREAMS}))
        try:
            stream = self.make_stream(sid, window, target)
        except OpenFailed as e:
            return self.send(OPEN_FAIL, sid, jdump({"code": e.code, "message": e.message}))
        self.streams[sid] = stream
        stream.start()

    def make_stream(self, sid, window, target):
        kind = target.get("t")
        if kind == "tcp":
            host, port = target.get("host"), target.get("port")
            if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                raise OpenFailed("EINVAL", "a TCP target needs a host and a port from 1 to 65535")
            cands = [(fam, (addr, port)) for fam, addr in loopback_addresses(host)]
            label = "%s:%d" % ("[%s]" % host if ":" in host else host, port)
            return SocketStream(self, sid, window, cands, label)
        if kind == "unix":
            path = target.get("path")
            if not isinstance(path, str) or not path.startswith("/") or len(path.encode("utf-8")) > 107 or "\0" in path:
                raise OpenFailed("EINVAL", "a Unix socket target needs an absolute path (at most 107 bytes)")
            return SocketStream(self, sid, window, [(socket.AF_UNIX, path)], path)
        if kind == "proc":
            return ProcessStream(self, sid, window, target)
        raise OpenFailed("EINVAL", "unknown target kind %r (tcp, unix or proc)" % (kind,))

    def opened(self, stream, info):
        stream.opened = True
        stream.recv_credit = RECV_WINDOW
        self.send(OPEN_OK, stream.sid, U32.pack(RECV_WINDOW) + jdump(info))

    def open_failed(self, stream, code, message):
        stream.gone = True
        self.streams.pop(stream.sid, None)
        self.send(OPEN_FAIL, stream.sid, jdump({"code": code, "message": message}))

    # --- processes and signals ---
    def on_signal(self, signum, frame):
        raise Shutdown()

    def on_wake(self, mask):
        try:
            while self.wake_r.recv(4096):
                pass
        except OSError:
            pass
        for pid, owner in list(self.processes.items()):
            proc = owner.proc if isinstance(owner, ProcessStream) else owner
            rc = proc.poll()
            if rc is None:
                continue
            self.processes.pop(pid, None)
            if isinstance(owner, ProcessStream) and not owner.gone:
                owner.exited(rc)

    def terminate(self, proc):
        """SIGTERM the process group now, SIGKILL it if still there after a grace period."""
        self.processes[proc.pid] = proc
        killpg(proc.pid, signal.SIGTERM)

        def escalate():
            if proc.poll() is None:
                killpg(proc.pid, signal.SIGKILL)

        self.timers.append((time.monotonic() + KILL_GRACE_S, escalate))

    def run_timers(self):
        if not self.timers:
            return None
        now = time.monotonic()
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, fn in due:
            fn()
        if not self.timers:
            return None
        return max(0.0, min(t[0] for t in self.timers) - time.monotonic())

    # --- main loop ---
    def run(self):
        while True:
            timeout = self.run_timers()
            for key, mask in self.sel.select(timeout):
                if key.fd in self.fds:
                    key.data(mask)
            self.flush_out()
            self.update_congestion()

    def protocol_error(self, message):
        """Say why in an ERROR frame after what is already queued, and give the client up to
        2 s to take it (the frames before it may be partly written: never cut one)."""
        self.send(ERROR, 0, jdump({"code": "protocol", "message": message}))
        deadline = time.monotonic() + 2.0
        try:
            while self.out and time.monotonic() < deadline:
                self.flush_out()
                if self.out:
                    import select

                    select.select([], [self.stdout], [], max(0.0, deadline - time.monotonic()))
        except (OSError, Shutdown):
            pass

    def cleanup(self):
        for pid, owner in list(self.processes.items()):
            killpg(pid, signal.SIGKILL)
        for s in list(self.streams.values()):
            if isinstance(s, SocketStream) and s.sock is not None:
                s.sock.close()


def killpg(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def grow_pipe(fd):
    """A 64 KiB pipe caps every read from a process at one frame; ask Linux for PIPE_BYTES so one
    read can take READ_MAX (not a pipe, or not allowed: left as it is)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError, ValueError):
        pass


def main(argv):
    hello = {
        "proto": PROTO,
        "agent": "kgpu-agent",
        "hash": argv[1] if len(argv) > 1 else "",
        "pid": os.getpid(),
        "python": "%d.%d.%d" % sys.version_info[:3],
        "maxPayload": MAX_PAYLOAD,
    }
    agent = Agent(0, 1, hello)
    code = 0
    try:
        agent.flush_out()
        agent.run()
    except Shutdown:
        pass
    except ProtocolError as e:
        agent.protocol_error(str(e))
        sys.stderr.write("kgpu agent: protocol error: %s\n" % e)
        code = 2
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        agent.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
