"""kgpu fork server: warm starts for "Run Active File on GPU" (stdlib only, Python >= 3.8).

One server per pod and interpreter imports the heavy third-party packages the user's scripts use
(torch, numpy, ...: installed packages only, never the project's own modules), then waits on a
Unix socket. A run asks it to fork; the forked processes are a normal kgpu job, laid out exactly
like the cold wrapper's (src/kgpu/jobs/job-wrapper.ts):

    W  the waiter (the cold wrapper's part): own session; writes wpid, started_at, oom_before;
       waits for J and records the end with the wrapper's own shell code (JOB_END_SCRIPT).
    J  the job (the cold `sh -c 'python …'`): leads its own session and process group (pid, pgid),
       stdio on the log; waits for K and exits as sh would (128+n for a signal).
    K  the script: the run's cwd, argv, environment and umask, signal dispositions and random
       state of a fresh interpreter, the script's folder first on sys.path, run as __main__.
       Tracebacks, exit codes and output are those of `python script.py`.

Usage (from the pod's shell; F is the private 0700 directory /tmp/kgpu-<uid>):
    python forkserver.py serve F KEY HASH TOKEN [--preload=a,b] [--learn=/abs/script.py] [--idle=S]
    python -I -S forkserver.py run F KEY HASH JOBDIR CWD PYWORD END_SCRIPT PRELOAD -- SCRIPT [ARG...]
        (KEY: the key, or the interpreter's absolute path, from which the client derives it)
        (the start command imports it instead: `python -I -S -c 'import sys; sys.path.insert(0, F);
        from forkserver_HASH import client; sys.exit(client(ARGS))'` — its bytecode is cached)
    python -I -S forkserver.py status F KEY

`run` prints one line: `warm`, or `<code> <reason>` (exit 3: run it cold). Files in F, per KEY (a hash of
the interpreter's path): fs-KEY.sock (0600), fs-KEY.pid ("pid hash state token"), fs-KEY.why
("code reason": why there is no server), fs-KEY.exclude (modules refused, one per line).

The server never initialises CUDA (CUDA does not survive fork): it imports modules only, and
refuses (exits, excluding the module next time) a preload after which CUDA is initialised, a
Python thread runs, or anything was printed. A forked canary uses each preloaded library once
before the server serves, so a thread pool that breaks fork is found before a user's run.
"""

import sys

# What the interpreter had imported before this file's own imports (≈ a cold run's start).
BASE_MODULES = frozenset(sys.modules)

# The client (`run`, in every warm start's start command: on the run's critical path) needs only
# these — `_socket`, not `socket`, whose import (enum, selectors, …) costs more than the rest of
# the client's start; the server imports the rest (socket included) when it starts.
import _socket  # noqa: E402
import marshal  # noqa: E402 — builtin, and already imported by every interpreter's start
import os  # noqa: E402
import time  # noqa: E402

SOCKET_TIMEOUT = TimeoutError if sys.version_info >= (3, 10) else _socket.timeout

PROTO = 2
MAX_FRAME = 8 << 20
CLIENT_TIMEOUT = 5.0
IDLE_DEFAULT = 7200
# Environment variables that differ between two SSH execs of the same pod, or that the shells on
# the way to the job set: not part of the server's fingerprint (the job still gets them).
VOLATILE_ENV = frozenset([b"PWD", b"OLDPWD", b"_", b"SHLVL", b"SSH_CLIENT", b"SSH_CONNECTION", b"SSH_TTY", b"SSH_AUTH_SOCK"])
# Set before `import torch` (or any preloaded package), these are read later than import (at
# CUDA or process-group init), so a warm start is still exact.
LAZY_ENV_PREFIXES = ("CUDA_", "NCCL_", "WANDB_", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "PYTORCH_CUDA_ALLOC_CONF")
OWN_FILE = os.path.abspath(__file__)
COMM = [""]  # the server's process name (what exec gave it), for K


# ---------------------------------------------------------------------------------------------
# Framing: a 4-byte big-endian length, then a dict of str, int and lists of str in marshal's format
# (strings carry non-UTF-8 bytes as surrogate escapes). Replies to the client are one text line.
# marshal, not a Python literal read back with ast.literal_eval: K reads its request while it is a
# fresh fork of the server, where every allocation copies a page the server shares with it — the
# literal's syntax tree cost K 7–20 ms on the run's critical path, marshal a fraction of one. Who
# can connect (the socket is in the user's private 0700 folder) can ask for any script to run, so
# marshal's "not for untrusted data" adds no reach; a request that is not a dict is refused.

def frame_bytes(obj):
    data = marshal.dumps(obj)
    return len(data).to_bytes(4, "big") + data


def parse_frame(body):
    try:
        obj = marshal.loads(body)
    except (EOFError, TypeError) as e:
        raise ValueError("a bad request (%s)" % e) from None
    if not isinstance(obj, dict):
        raise ValueError("a bad request (not a dict)")
    return obj


def recv_exact(sock, n):
    parts = []
    while n > 0:
        b = sock.recv(min(n, 1 << 16))
        if not b:
            raise EOFError("connection closed")
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def recv_frame(sock):
    n = int.from_bytes(recv_exact(sock, 4), "big")
    if n > MAX_FRAME:
        raise ValueError("frame too large")
    return parse_frame(recv_exact(sock, n))


def recv_line(sock, limit=1 << 16):
    data = b""
    while not data.endswith(b"\n"):
        b = sock.recv(4096)
        if not b:
            raise EOFError("connection closed")
        data += b
        if len(data) > limit:
            raise ValueError("line too long")
    return data.decode("utf-8", "replace").rstrip("\n")


def send_line(sock, text):
    sock.sendall((" ".join(text.split("\n")) + "\n").encode("utf-8", "replace"))


def write_fd(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_fd_exact(fd, n):
    parts = []
    while n > 0:
        b = os.read(fd, min(n, 1 << 16))
        if not b:
            raise EOFError("pipe closed")
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def read_fd_raw_frame(fd):
    """A frame from a pipe, as raw bytes with the prefix."""
    head = read_fd_exact(fd, 4)
    n = int.from_bytes(head, "big")
    if n > MAX_FRAME:
        raise ValueError("frame too large")
    return head + read_fd_exact(fd, n)


def write_atomic(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_text(path, limit=4096):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Client: runs in the job's start command, in the job's cwd and environment.

def status_client(argv):
    """`status F KEY`: the server's state as one JSON line (exit 3 when none answers)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(CLIENT_TIMEOUT)
    try:
        s.connect(os.path.join(argv[0], "fs-%s.sock" % argv[1]))
        s.sendall(frame_bytes({"v": PROTO, "status": 1}))
        sys.stdout.write(recv_line(s) + "\n")
        return 0
    except (OSError, EOFError, ValueError) as e:
        sys.stdout.write('{"error": %r}\n' % str(e).replace("'", ""))
        return 3


def interpreter_key(path):
    """The key of an interpreter's fork server: what the start command's shell `kgpu_key PATH`
    prints (src/kgpu/warm/pod-shell.ts: the first 16 hex digits of the path's sha256). From the
    builtin module, not hashlib (whose OpenSSL import costs ~7 ms on a warm start's critical path)."""
    data = os.fsencode(path)
    for name in ("_sha2", "_sha256"):  # 3.12+, 3.8-3.11
        try:
            return __import__(name).sha256(data).hexdigest()[:16]
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256(data).hexdigest()[:16]


def client(argv):
    def cold(code, reason):
        sys.stdout.write("%s %s\n" % (code, " ".join(str(reason).split())[:300]))
        return 3

    try:
        sep = argv.index("--")
        F, key, hsh, jobdir, cwd, pyword, end_script, preload = argv[:8]
        script_argv = argv[sep + 1:]
    except (ValueError, IndexError):
        return cold("client", "bad arguments")
    if not script_argv:
        return cold("client", "no script")
    if key.startswith("/"):
        key = interpreter_key(key)  # the start command passes the interpreter's path (no sha256sum exec)
    sock_path = os.path.join(F, "fs-%s.sock" % key)
    umask = os.umask(0)
    os.umask(umask)
    req = {
        "v": PROTO,
        "hash": hsh,
        "python": sys.executable,
        "dir": jobdir,
        "cwd": cwd,
        "argv": script_argv,
        "orig": [pyword] + script_argv,
        "env": {os.fsdecode(k): os.fsdecode(v) for k, v in os.environb.items()},
        "umask": umask,
        "preload": [m for m in preload.split(",") if m],
        "end": end_script,
    }
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(CLIENT_TIMEOUT)
    try:
        s.connect(sock_path)
    except FileNotFoundError:
        why = read_text(os.path.join(F, "fs-%s.why" % key), 400).split("\n")[0].split(" ", 1)
        return cold(*why) if len(why) == 2 else cold("none", "no fork server yet")
    except ConnectionRefusedError:
        return cold("dead", "the fork server is not running")
    except SOCKET_TIMEOUT:
        return cold("busy", "the fork server did not answer within %d s" % CLIENT_TIMEOUT)
    except OSError as e:
        return cold("dead", "cannot reach the fork server (%s)" % e.strerror)
    try:
        s.sendall(frame_bytes(req))
        reply = recv_line(s).split(" ", 2)
    except SOCKET_TIMEOUT:
        return cold("busy", "the fork server did not answer within %d s" % CLIENT_TIMEOUT)
    except (OSError, EOFError, ValueError):
        return cold("dead", "the fork server closed the connection")
    if reply[0] == "ok":
        try:
            # The go-ahead: until the server has it, nothing of the job exists; after it, the
            # job is the fork server's (never also a cold one).
            s.sendall(b"G")
        except OSError:
            return cold("dead", "the fork server closed the connection")
        sys.stdout.write("warm\n")
        return 0
    if reply[0] == "cold" and len(reply) == 3:
        return cold(reply[1], reply[2])
    return cold("refused", "the fork server refused the run")


# ---------------------------------------------------------------------------------------------
# What a script imports (ast), which of it is installed third-party code.

def site_dirs():
    import site

    dirs = set()
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:
        pass
    try:
        dirs.add(site.getusersitepackages())
    except AttributeError:
        pass
    for p in sys.path:
        if os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages"):
            dirs.add(p)
    # As sys.path spells them (module __file__ paths start so) and resolved.
    return sorted(set(d.rstrip("/") for d in dirs if d) | set(os.path.realpath(d) for d in dirs if d))


def under(path, dirs):
    """`path` is in one of `dirs` (a plain prefix test: no file system access, it runs per
    module on every request)."""
    return any(path.startswith(d + "/") for d in dirs)


def installed_origin(name, sitedirs):
    """The file or folder of an installed third-party top-level module `name`: one that sits
    directly in a site-packages/dist-packages folder. None for the standard library, built-ins,
    missing modules and anything else — a project's own module (next to the script, on
    PYTHONPATH, in a folder added to sys.path) is never preloaded."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None:
        return None
    places = []
    if spec.origin and spec.origin not in ("built-in", "frozen", "namespace"):
        # a package's __init__.py → its folder; a module's file
        places.append(os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin)
    places.extend(spec.submodule_search_locations or [])
    if not places:
        return None
    for p in places:
        if os.path.dirname(os.path.realpath(p)) not in sitedirs:
            return None
    return places[0]


def local_module_file(name, folder):
    """The .py file in `folder` that `import name` (dotted) would run first, if it is local."""
    parts = name.split(".")
    base = os.path.join(folder, *parts[:1])
    for cand in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(cand):
            return cand
    return None


def shadowing(folder):
    """(file, module) when `folder` (the script's, first on a cold run's sys.path) holds a module
    or package named like one this process has imported that a fresh interpreter has not: in a
    cold run the project's file would be imported instead (a local torch.py, numpy/, json.py)."""
    from importlib.machinery import all_suffixes

    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    suffixes = sorted(all_suffixes(), key=len, reverse=True)
    for entry in entries:
        name = None
        for suf in suffixes:
            if entry.endswith(suf):
                name = entry[: -len(suf)]
                break
        if name is None:
            if os.path.isfile(os.path.join(folder, entry, "__init__.py")):
                name = entry
            else:
                continue
        if name in sys.modules and name not in BASE_MODULES and "." not in name:
            return entry, name
    return None


ENV_METHODS = frozenset(["update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"])
PATH_METHODS = frozenset(["insert", "append", "extend", "remove", "pop", "clear", "__setitem__"])


def _mentions(node, names):
    import ast

    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id in names:
            return True
        if isinstance(n, ast.Attribute) and n.attr in names:
            return True
    return False


def _is_sys_path(node):
    import ast

    return isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys"


def _lazy_key(sub):
    import ast

    key = sub.slice
    if isinstance(key, getattr(ast, "Index", ())):  # Python 3.8
        key = key.value
    return isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.startswith(LAZY_ENV_PREFIXES)


def mutation(stmt):
    """What a top-level statement changes that an import reads: 'os.environ', 'sys.path' or None.
    Only the statement itself (not the bodies of functions or classes it defines)."""
    import ast

    stack = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for t in targets:
            if isinstance(t, ast.Subscript) and _mentions(t.value, ("environ", "environb")) and not _lazy_key(t):
                return "os.environ"
            if _is_sys_path(t) or (isinstance(t, ast.Subscript) and _is_sys_path(t.value)):
                return "sys.path"
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute):
                if f.attr in ("putenv", "unsetenv"):
                    return "os.environ"
                if f.attr in ENV_METHODS and _mentions(f.value, ("environ", "environb")):
                    return "os.environ"
                if f.attr in PATH_METHODS and _is_sys_path(f.value):
                    return "sys.path"
                if f.attr == "load_dotenv":
                    return "os.environ"
            elif isinstance(f, ast.Name) and f.id == "load_dotenv":
                return "os.environ"
        stack.extend(ast.iter_child_nodes(node))
    return None


class Analysis:
    """The imports of a script and of the project modules it imports, in the order a cold run
    meets them, and what changes os.environ/sys.path before them."""

    def __init__(self):
        self.events = []  # ("import", top-level name, nested) | ("mutate", what, where)
        self.files = 0


def analyze(path, folder, analysis=None, seen=None, depth=0):
    import ast

    analysis = analysis or Analysis()
    seen = seen if seen is not None else set()
    if path in seen or analysis.files >= 40 or depth > 4:
        return analysis
    seen.add(path)
    analysis.files += 1
    try:
        with open(path, "rb") as f:
            source = f.read(4 << 20)
        tree = ast.parse(source, path)
    except (OSError, SyntaxError, ValueError):
        return analysis
    where = os.path.basename(path)

    def imports_in(node, nested):
        for n in ast.walk(node):
            if isinstance(n, ast.Import):
                for a in n.names:
                    yield a.name, nested or n is not node
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                yield n.module, nested or n is not node

    def visit(stmts):
        for st in stmts:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for name, _ in imports_in(st, True):
                    analysis.events.append(("import", name.split(".")[0], True))
                continue
            if isinstance(st, (ast.If, ast.Try, ast.With, ast.For, ast.While)) or type(st).__name__ == "TryStar":
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(st, field, []) or [])
                for h in getattr(st, "handlers", []) or []:
                    visit(h.body)
                continue
            if isinstance(st, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in st.names] if isinstance(st, ast.Import) else ([st.module] if st.level == 0 and st.module else [])
                for name in names:
                    top = name.split(".")[0]
                    local = local_module_file(name, folder)
                    if local:
                        before = len(analysis.events)
                        analyze(local, folder, analysis, seen, depth + 1)
                        # A project module that changes the environment counts where it is imported.
                        for ev in analysis.events[before:]:
                            if ev[0] == "mutate":
                                analysis.events.insert(before, ("mutate", ev[1], os.path.basename(local)))
                                break
                    else:
                        analysis.events.append(("import", top, False))
                continue
            what = mutation(st)
            if what:
                analysis.events.append(("mutate", what, where))

    visit(tree.body)
    return analysis


def environ_conflict(analysis, preloaded):
    """A reason to run cold when the script changes os.environ/sys.path before it imports a
    preloaded package (which read them at its import, in the server)."""
    first = None
    nested_only = {}
    for ev in analysis.events:
        if ev[0] == "mutate":
            first = first or ev
        elif ev[1] in preloaded:
            if ev[2]:
                nested_only.setdefault(ev[1], True)
                continue
            nested_only[ev[1]] = False
            if first:
                return "%s changes %s before importing %s" % (first[2], first[1], ev[1])
    if first:
        for name, nested in nested_only.items():
            if nested:
                return "%s changes %s and imports %s later" % (first[2], first[1], name)
    return None


# ---------------------------------------------------------------------------------------------
# The server.

class Refused(Exception):
    def __init__(self, module, reason):
        Exception.__init__(self, reason)
        self.module = module
        self.reason = reason


class Stop(BaseException):
    pass


def cuda_initialised():
    t = sys.modules.get("torch")
    if t is not None:
        cuda = getattr(t, "cuda", None)
        try:
            if cuda is not None and cuda.is_initialized():
                return "torch.cuda.is_initialized() is True"
        except Exception as e:  # noqa: BLE001 — a broken check is a refusal too
            return "torch.cuda.is_initialized() failed (%s)" % e
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink("/proc/self/fd/" + fd).startswith("/dev/nvidia"):
                    return "a CUDA device (%s) is open" % os.readlink("/proc/self/fd/" + fd)
            except OSError:
                pass
    except OSError:
        pass
    return None


def rss_kb():
    for line in read_text("/proc/self/status", 1 << 16).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def python_threads():
    th = sys.modules.get("threading")
    return th is not None and th.active_count() > 1


class Server:
    def __init__(self, F, key, hsh, token, preload, learn, idle):
        self.F, self.key, self.hash, self.token = F, key, hsh, token
        self.sock_path = os.path.join(F, "fs-%s.sock" % key)
        self.pid_path = os.path.join(F, "fs-%s.pid" % key)
        self.why_path = os.path.join(F, "fs-%s.why" % key)
        self.exclude_path = os.path.join(F, "fs-%s.exclude" % key)
        self.idle = idle
        self.env0 = dict(os.environb)
        self.cwd0 = os.getcwd()
        safe = getattr(sys.flags, "safe_path", False)
        self.sys_path_tail = list(sys.path if safe else sys.path[1:])
        sys.path[:] = self.sys_path_tail  # never import from the server's own folder
        self.requested = list(preload)
        self.learn = learn
        self.loaded = []  # top-level names preloaded
        self.excluded = set(l.strip() for l in read_text(self.exclude_path, 1 << 16).splitlines() if l.strip())
        self.tried = set()
        self.children = set()
        self.replacement = None
        self.stale = None
        self.listener = None
        self.ino = None
        self.fingerprint = {}
        self.analysis_cache = {}
        self._tops = None
        self.spare = None  # (pid, request fds, go fd) of a pre-forked W → J → K waiting for a run
        self.last_request = time.monotonic()
        self.sitedirs = site_dirs()

    # -- state files --
    def state(self, word):
        write_atomic(self.pid_path, "%d %s %s %s\n" % (os.getpid(), self.hash, word, self.token))

    def why(self, code, reason):
        # Line 1 is what a cold start says; line 2 tells `ensure --wait` which start it was.
        write_atomic(self.why_path, "%s %s\ntoken %s\n" % (code, " ".join(reason.split())[:300], self.token))

    def mine(self, path):
        return read_text(path, 200).split(" ")[:1] == [str(os.getpid())]

    # -- preload --
    def preload(self):
        names = []
        for n in self.requested:
            if n not in names:
                names.append(n)
        for path in self.learn:
            if os.path.isfile(path):
                a = analyze(path, os.path.dirname(os.path.realpath(path)))
                for ev in a.events:
                    if ev[0] == "import" and ev[1] not in names:
                        names.append(ev[1])
        devnull = os.open(os.devnull, os.O_RDWR)
        capture = os.path.join(self.F, ".fs-%s-%d.out" % (self.key, os.getpid()))
        for name in names:
            top = name.split(".")[0]
            if top in self.excluded or not installed_origin(top, self.sitedirs):
                continue
            if top in sys.modules and name in sys.modules:
                if top not in self.loaded:
                    self.loaded.append(top)
                continue
            # Whatever the import prints goes to a file: a warm run could not show it.
            out = os.open(capture, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, 1)
            os.dup2(out, 2)
            failed = False
            try:
                __import__(name)
            except (Exception, SystemExit, KeyboardInterrupt):  # noqa: BLE001 — not preloaded
                failed = True
            finally:
                for f in (sys.stdout, sys.stderr):
                    try:
                        f.flush()
                    except Exception:  # noqa: BLE001
                        pass
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                printed = os.fstat(out).st_size
                os.close(out)
                os.unlink(capture)
            c = cuda_initialised()
            if c:
                raise Refused(top, "importing %s initialised CUDA: %s" % (name, c))
            if python_threads():
                raise Refused(top, "importing %s started a Python thread" % name)
            if printed:
                raise Refused(top, "importing %s printed %d bytes (a warm run would not show them)" % (name, printed))
            if failed:
                self.excluded.add(top)
                self.note_excluded(top)
                continue
            if top not in self.loaded:
                self.loaded.append(top)
        os.close(devnull)
        self.canary()

    def note_excluded(self, top):
        with open(self.exclude_path, "a") as f:
            f.write(top + "\n")

    def canary(self):
        """Fork once and use each preloaded library in the child: a thread pool that a fork
        breaks hangs or crashes here, not in a user's run. SIGALRM bounds it."""
        smokes = []
        if "numpy" in sys.modules:
            smokes.append(("numpy", "import numpy; numpy.ones((64, 64)).dot(numpy.ones((64, 64))).sum()"))
        if "torch" in sys.modules:
            smokes.append(("torch", "import torch; (torch.ones(64, 64) @ torch.ones(64, 64)).sum().item(); torch.get_num_threads()"))
        if not smokes:
            return
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            import signal

            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(30)
            try:
                for name, code in smokes:
                    os.write(w, (name + "\n").encode())
                    exec(code, {})
                os.write(w, b"ok\n")
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            progress = f.read().decode().split()
        os.waitpid(pid, 0)
        if progress[-1:] != ["ok"]:
            bad = progress[-1] if progress else smokes[0][0]
            raise Refused(bad, "a forked child could not use %s (it hung or crashed)" % bad)

    # -- freshness --
    def take_fingerprint(self):
        fp = {}
        exe = os.path.realpath(sys.executable)
        paths = {exe}
        for d in self.sitedirs:
            paths.add(d)
        for m in list(sys.modules.values()):
            f = getattr(m, "__file__", None)
            if isinstance(f, str) and under(f, self.sitedirs):
                paths.add(f)
                paths.add(os.path.dirname(f))
        for p in paths:
            fp[p] = self.sig(p)
        self.fingerprint = fp

    @staticmethod
    def sig(p):
        try:
            st = os.stat(p)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def freshness(self):
        exe = os.path.realpath(sys.executable)
        if self.sig(exe) != self.fingerprint.get(exe):
            return "interp", "the interpreter %s changed" % exe
        for p, s in self.fingerprint.items():
            if self.sig(p) != s:
                if s is None:
                    return "stale", "installed packages changed (%s appeared)" % p
                return "stale", "installed packages changed (%s)" % p
        return None

    def env_change(self, env):
        names = sorted(k for k in set(env) | set(self.env0) if k not in VOLATILE_ENV and env.get(k) != self.env0.get(k))
        if not names:
            return None
        shown = ", ".join(os.fsdecode(n) for n in names[:4]) + (", …" if len(names) > 4 else "")
        return "the environment changed (%s)" % shown

    # -- serving --
    def listen(self):
        tmp = os.path.join(self.F, ".fs-%s-%d.sock" % (self.key, os.getpid()))
        try:
            os.unlink(tmp)
        except OSError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            s.bind(tmp)
        finally:
            os.umask(old)
        os.chmod(tmp, 0o600)
        s.listen(16)
        s.settimeout(1.0)
        os.replace(tmp, self.sock_path)
        self.listener = s
        self.ino = os.stat(self.sock_path).st_ino

    def socket_is_mine(self):
        try:
            return os.stat(self.sock_path).st_ino == self.ino
        except OSError:
            return False

    def retire(self, code=None, reason=None):
        """Stop serving: leave the socket and pid file to whoever replaced us."""
        if self.socket_is_mine():
            try:
                os.unlink(self.sock_path)
            except OSError:
                pass
            if code:
                self.why(code, reason)
        if self.mine(self.pid_path):
            try:
                os.unlink(self.pid_path)
            except OSError:
                pass

    def reap(self):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            if self.spare is not None and pid == self.spare[0]:
                self.close_spare()
            if pid == self.replacement:
                self.replacement = None
                if not self.stale and self.socket_is_mine():
                    self.state("ready")  # it ended without taking over: we serve on

    def spawn_replacement(self, env, preload):
        import subprocess

        args = [sys.executable, OWN_FILE, "serve", self.F, self.key, self.hash, self.token, "--preload=" + ",".join(preload), "--idle=%d" % self.idle]
        cwd = self.cwd0 if os.path.isdir(self.cwd0) else "/"
        if not self.stale:
            # Still serving; `ensure --wait` waits for the replacement, not for us. (Before it
            # starts: it overwrites this with its own state.)
            self.state("replacing")
        try:
            p = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=False)
        except OSError:
            if not self.stale:
                self.state("ready")
            return
        self.replacement = p.pid
        self.children.add(p.pid)
        # Popen's own bookkeeping would reap it behind our back; we reap with waitpid.
        p.returncode = 0

    def loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                conn = None
            self.reap()
            if not self.socket_is_mine():
                return None  # replaced by a newer server (or removed): stop
            if not os.path.exists(OWN_FILE):
                self.retire("outdated", "the fork server was updated")
                return None
            if self.stale and self.replacement is None:
                # The replacement ended without taking over: it said why (fs-KEY.why).
                self.retire()
                return None
            if conn is None:
                if time.monotonic() - self.last_request > self.idle and not self.replacement:
                    self.retire("none", "the fork server stopped after %d min without runs" % (self.idle // 60))
                    return None
                if self.spare is None and not self.stale:
                    # A quiet second: fork the next run's processes now, off its critical path
                    # (not right after a run, whose own start would share the CPU with it).
                    spare = self.make_chain()
                    if spare[0] == "child":
                        return spare[1]
                    self.spare = spare[1]
                continue
            job = self.handle(conn)
            if job is not None:
                return job

    def handle(self, conn):
        self.last_request = time.monotonic()
        conn.settimeout(5.0)
        try:
            req = recv_frame(conn)
        except Exception:  # noqa: BLE001 — a broken client gets nothing
            conn.close()
            return None
        if req.get("status"):
            import json

            try:
                send_line(conn, json.dumps(self.status()))
            except OSError:
                pass
            conn.close()
            return None
        # The request goes to the pre-forked processes first: K sets itself up (cwd, environment,
        # compiles the script) while this process checks the run and the client's go travels.
        chain, self.spare = self.spare, None
        if chain is None:
            made = self.make_chain(conn)
            if made[0] == "child":
                return made[1]
            chain = made[1]
        pid, wfds, gfd = chain
        frame = frame_bytes(req)
        for wfd in wfds:  # K's first: K (the script) is on the run's critical path
            try:
                write_fd(wfd, frame)
            except OSError:
                pass
            os.close(wfd)
        try:
            verdict, analysis = self.check(req)
        except Exception as e:  # noqa: BLE001 — never run warm on a check that failed
            verdict, analysis = ("error", "the fork server could not check the run (%s)" % e), None
        go = b""
        try:
            if verdict:
                send_line(conn, "cold %s %s" % (verdict[0], verdict[1]))
            else:
                send_line(conn, "ok %d" % pid)
                go = conn.recv(1)
        except (OSError, socket.timeout):
            go = b""
        if go == b"G":
            # From here on the job is ours, never also a cold one: the client has committed.
            # One byte each for W, J and K (all read the same pipe).
            try:
                os.write(gfd, b"ggg")
            except OSError:
                pass
        os.close(gfd)  # without the bytes: W, J and K see the pipe close and exit, nothing written
        conn.close()
        if go == b"G":
            self.learn_from(req, analysis)
        return None

    def make_chain(self, conn=None):
        """Fork W (which forks J, which forks K). Each reads the request from a pipe of its own,
        written by the server (K's first: no hop on the run's critical path), and its go from one
        shared pipe (one byte each; EOF: exit).
        ("server", (pid, (K's, J's, W's request fd), go fd)) here;
        ("child", ((W's, J's, K's request fd), go fd, sys.path)) in W."""
        for f in (sys.stdout, sys.stderr):
            f.flush()
        pipes = [os.pipe() for _ in range(3)]  # W, J, K
        gr, gw = os.pipe()
        pid = os.fork()
        if pid == 0:
            for _, w in pipes:
                os.close(w)
            os.close(gw)
            self.close_for_child()
            if conn is not None:
                conn.close()
            return "child", (tuple(r for r, _ in pipes), gr, self.sys_path_tail)
        for r, _ in pipes:
            os.close(r)
        os.close(gr)
        self.children.add(pid)
        return "server", (pid, tuple(w for _, w in reversed(pipes)), gw)

    def close_spare(self):
        for fd in self.spare[1]:
            os.close(fd)
        os.close(self.spare[2])
        self.spare = None

    def check(self, req):
        if req.get("v") != PROTO or req.get("hash") != self.hash:
            self.stale = ("outdated", "the fork server was updated")
            self.state("stale")
            return ("outdated", "the fork server is another version"), None
        if self.stale:
            return ("restarting", "the fork server is restarting: " + self.stale[1]), None
        env = {os.fsencode(k): os.fsencode(v) for k, v in req["env"].items()}
        fresh = self.freshness()
        if fresh:
            self.stale = fresh
            self.state("stale")
            self.spawn_replacement(self.env0, self.loaded)
            return fresh, None
        changed = self.env_change(env)
        if changed:
            self.stale = ("env", changed)
            self.state("stale")
            self.spawn_replacement(env, self.loaded)
            return ("env", changed), None
        if req.get("python") != sys.executable:
            return ("interp", "the interpreter is %s, not %s" % (req.get("python"), sys.executable)), None
        path = os.path.join(req["cwd"], req["argv"][0])
        try:
            with open(path, "rb") as f:
                head = f.read(4)
        except OSError:
            return ("noscript", "cannot read %s" % req["argv"][0]), None
        if head.startswith(b"PK") or head.startswith(b"\x0d\x0d\x0d\x0a") or path.endswith((".pyc", ".pyz", ".zip")):
            return ("unsupported", "%s is not a Python source file" % req["argv"][0]), None
        folder = os.path.dirname(os.path.realpath(path))
        shadowed = shadowing(folder)
        if shadowed:
            return ("shadow", "the project's own %s shadows the %s the fork server has imported" % shadowed), None
        st = os.stat(path)
        ck = (path, st.st_mtime_ns, st.st_size, st.st_ino)
        analysis = self.analysis_cache.get(ck)
        if analysis is None:
            analysis = analyze(path, folder)
            self.analysis_cache = {ck: analysis}
        conflict = environ_conflict(analysis, self.site_tops())
        if conflict:
            return ("environ", conflict), analysis
        return None, analysis

    def status(self):
        return {
            "pid": os.getpid(),
            "hash": self.hash,
            "python": sys.executable,
            "preloaded": self.loaded,
            "excluded": sorted(self.excluded),
            "stale": self.stale[1] if self.stale else None,
            "replacement": self.replacement,
            "jobs": len(self.children) - (1 if self.replacement else 0) - (1 if self.spare else 0),
            "spare": self.spare[0] if self.spare else None,
            "rss_kb": rss_kb(),
        }

    def site_tops(self):
        """Top-level names of the installed packages this process has imported (recomputed
        only when it has imported more)."""
        if self._tops is None or self._tops[0] != len(sys.modules):
            tops = set()
            for name, m in list(sys.modules.items()):
                f = getattr(m, "__file__", None)
                if "." not in name and isinstance(f, str) and under(f, self.sitedirs):
                    tops.add(name)
            self._tops = (len(sys.modules), tops)
        return self._tops[1]

    def learn_from(self, req, analysis):
        """After the fork: packages this run imports that are not preloaded yet → a replacement
        server with them (this one serves until it has taken over)."""
        if self.replacement is not None or analysis is None:
            return
        wanted = [m for m in req.get("preload", [])] + [ev[1] for ev in analysis.events if ev[0] == "import"]
        missing = []
        for m in wanted:
            top = m.split(".")[0]
            if top in self.loaded or top in self.excluded or top in missing or top in sys.modules:
                continue
            if installed_origin(top, self.sitedirs):
                missing.append(top)
        if missing and frozenset(missing) not in self.tried:
            self.tried.add(frozenset(missing))
            self.spawn_replacement(self.env0, self.loaded + missing)

    def close_for_child(self):
        self.listener.close()
        self.listener = None
        if self.spare is not None:
            self.close_spare()


def serve(argv):
    F, key, hsh, token = argv[:4]
    opts = {"preload": "", "learn": [], "idle": str(IDLE_DEFAULT)}
    for a in argv[4:]:
        k, _, v = a.lstrip("-").partition("=")
        if k == "learn":
            if v:
                opts["learn"].append(v)
        else:
            opts[k] = v
    global socket
    import signal
    import socket

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    COMM[0] = read_text("/proc/self/comm", 64).strip() or os.path.basename(sys.executable)[:15]
    srv = Server(F, key, hsh, token, [m for m in opts["preload"].split(",") if m], opts["learn"], int(opts["idle"]))
    srv.state("starting")
    srv.why("starting", "the fork server is still starting")
    try:
        try:
            srv.preload()
        except Refused as r:
            srv.excluded.add(r.module)
            srv.note_excluded(r.module)
            srv.why("refused", "the fork server refused the preload: " + r.reason)
            if srv.mine(srv.pid_path):
                os.unlink(srv.pid_path)
            return None
        import gc

        # The source lines the preload read (torch fills linecache with ~15 000): freed here once,
        # not in every forked K, where clearing them (K starts with a fresh linecache, as a new
        # interpreter does) copied the pages they share with the server: 20–45 ms per run.
        lc = sys.modules.get("linecache")
        if lc is not None:
            lc.clearcache()
        gc.collect()
        gc.freeze()
        os.chdir("/")
        srv.take_fingerprint()
        srv.listen()
        srv.state("ready")
        try:
            if read_text(srv.why_path, 100).startswith("starting"):
                os.unlink(srv.why_path)
        except OSError:
            pass
        job = srv.loop()
        if job is None:
            srv.retire()
            return None
        return job
    except Stop:
        srv.retire("none", "the fork server was stopped")
        return None


# ---------------------------------------------------------------------------------------------
# The forked job: W (waiter), J (the job's process group leader), K (the script).

def reset_signals(fresh_python):
    import signal

    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    if fresh_python:
        # What a fresh interpreter sets up: SIGPIPE and SIGXFSZ ignored, SIGINT → KeyboardInterrupt.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        if hasattr(signal, "SIGXFSZ"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def now_ms():
    return str(int(time.time() * 1000))


def oom_kills():
    for f in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(f) as fh:
                for line in fh:
                    if line.startswith("oom_kill "):
                        return line.split()[1]
                return None
        except OSError:
            continue
    return None


def name_process(name):
    """What `ps`, /proc/PID/comm and a child's look at its parent show (the cold job's are sh)."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name)
    except OSError:
        pass


def redirect_stdio(d):
    """stdin from /dev/null, stdout and stderr appended to the job's log (`< /dev/null >> log 2>&1`)."""
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(os.path.join(d, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def released(fd):
    """Block until the parent says go (one byte) — or exit quietly when it went away without."""
    try:
        go = os.read(fd, 1)
    except OSError:
        go = b""
    os.close(fd)
    if go != b"g":
        os._exit(0)


def request_or_exit(fd):
    """The request a chain process waits for; exit quietly when the pipe closes without one."""
    try:
        raw = read_fd_raw_frame(fd)
    except (OSError, EOFError, ValueError):
        os._exit(0)
    os.close(fd)
    try:
        return parse_frame(raw[4:])
    except (OSError, EOFError, ValueError):
        os._exit(0)


def waiter(rs, g):
    """W, forked from the server (ahead of a run, or for it): the cold wrapper's part. Forks J at
    once; on its go writes wpid and the start; waits for J and records the end with the wrapper's
    own shell code. Nothing touches the job before the go. `rs`: the request fds of W, J and K.
    Returns only in J (with the fds J and K read)."""
    reset_signals(False)
    os.setsid()
    name_process("sh")
    r, rj, rk = rs
    pid = os.fork()
    if pid == 0:
        os.close(r)
        return rj, rk
    os.close(rj)
    os.close(rk)
    req = request_or_exit(r)
    released(g)  # the client's go-ahead, through the server (else: exit; J and K do too)
    os.umask(req["umask"])
    d = req["dir"]
    try:
        with open(os.path.join(d, "wpid"), "w") as f:
            f.write("%d\n" % os.getpid())
        write_atomic(os.path.join(d, "started_at"), now_ms() + "\n")
        o = oom_kills()
        if o is not None:
            write_atomic(os.path.join(d, "oom_before"), o + "\n")
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    rc = (128 + os.WTERMSIG(status)) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    try:
        os.execv("/bin/sh", ["sh", "-c", req["end"], "kgpu-job-end", d, str(rc)])
    finally:
        os._exit(1)


def job(rs, g):
    """J: what `setsid sh -c …` is in a cold run — session and process-group leader. Forks K at
    once; on its go: stdio on the log, pid and pgid, cwd; waits for K and exits as dash would.
    `rs`: the request fds of J and K. Returns only in K (with the fd K reads)."""
    os.setsid()
    name_process("sh")
    reset_signals(False)
    rj, rk = rs
    pid = os.fork()
    if pid == 0:
        os.close(rj)
        name_process(COMM[0])
        return rk
    os.close(rk)
    req = request_or_exit(rj)
    released(g)
    d = req["dir"]
    try:
        redirect_stdio(d)
        for name in ("pid", "pgid"):
            with open(os.path.join(d, name), "w") as f:
                f.write("%d\n" % os.getpid())
    except OSError:
        os._exit(127)
    try:
        os.chdir(req["cwd"])
    except OSError:
        os.write(2, ("kgpu: cannot enter the working directory %s\n" % req["cwd"]).encode("utf-8", "surrogateescape"))
        os._exit(127)
    _, status = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(status):
        os._exit(os.WEXITSTATUS(status))
    sig = os.WTERMSIG(status)
    import signal

    if sig not in (signal.SIGINT, signal.SIGPIPE):
        # What dash says when its foreground command dies by a signal (jobs.c sprint_status).
        text = signal.strsignal(sig) or ("Unknown signal %d" % sig)
        if os.WCOREDUMP(status):
            text += " (core dumped)"
        try:
            os.write(2, (text + "\n").encode())
        except OSError:
            pass
    os._exit(128 + sig)


def reseed_random():
    """Random state that fork copied: a cold run seeds these from the OS. (`random` reseeds itself
    after fork; CUDA generators are not initialised in the server.) Done in K before its request
    arrives — each K runs one job — since numpy's reseed alone costs ~5 ms on a warm start."""
    np = sys.modules.get("numpy.random")
    if np is not None:
        try:
            np.seed()
        except Exception:  # noqa: BLE001
            pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.default_generator.seed()
        except Exception:  # noqa: BLE001
            pass
    mp = sys.modules.get("multiprocessing.process")
    if mp is not None:
        try:
            mp.current_process().authkey = os.urandom(32)
        except Exception:  # noqa: BLE001
            pass


def reseed_run():
    """What a fresh interpreter takes from the moment and the place it starts (after K's chdir)."""
    mp = sys.modules.get("multiprocessing.process")
    if mp is not None:
        mp.ORIGINAL_DIR = os.path.abspath(os.getcwd())
    lg = sys.modules.get("logging")
    if lg is not None:
        lg._startTime = time.time()


def run_script(rk, g, sys_path_tail):
    """K: the script as `python script.py` runs it. What does not depend on the run (signal
    dispositions, fresh random state, the import system's caches) is set up before the request
    arrives — ahead of the run in a pre-forked K; the rest when it arrives (while the server checks
    the run and the client's go travels); on its go, stdio on the log, then the script."""
    import builtins
    import importlib
    import importlib.machinery
    import linecache
    import types

    faulthandler = sys.modules.get("faulthandler")
    fh = faulthandler is not None and faulthandler.is_enabled()
    reset_signals(True)
    if fh:
        faulthandler.enable(all_threads=True)
    reseed_random()
    importlib.invalidate_caches()
    req = request_or_exit(rk)
    go_fd = g
    try:
        os.chdir(req["cwd"])
    except OSError:
        released(go_fd)  # J reports it (exit 127); never reached
        os._exit(127)
    os.umask(req["umask"])
    os.environ.clear()
    for k, v in req["env"].items():
        os.environb[os.fsencode(k)] = os.fsencode(v)
    sys.argv = list(req["argv"])
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = list(req["orig"])
    path = os.path.abspath(req["argv"][0])
    head = [] if getattr(sys.flags, "safe_path", False) else [os.path.dirname(os.path.realpath(path))]
    sys.path[:] = head + list(sys_path_tail)
    for d in head:
        # The script's folder as it is now (the run's sync just changed it), not as the server or
        # this K's start saw it.
        sys.path_importer_cache.pop(d, None)
    linecache.clearcache()
    reseed_run()
    main = types.ModuleType("__main__")
    g = main.__dict__
    g["__loader__"] = importlib.machinery.SourceFileLoader("__main__", path)
    g["__annotations__"] = {}
    g["__builtins__"] = builtins
    g["__file__"] = path
    g["__cached__"] = None
    code = error = None
    try:
        with open(path, "rb") as f:
            source = f.read()
        code = compile(source, path, "exec", dont_inherit=True)
    except BaseException as e:  # noqa: BLE001 — raised where a cold run raises it, below
        error = e
    released(go_fd)
    redirect_stdio(req["dir"])
    sys.modules["__main__"] = main
    try:
        if error is not None:
            raise error
        exec(code, g)
    except SystemExit:
        raise  # the interpreter handles it as in a cold run (code, message, no traceback)
    except BaseException as e:  # noqa: BLE001
        kbi = isinstance(e, KeyboardInterrupt)
        print_uncaught(e)
        del e
        g.pop("__file__", None)
        g.pop("__cached__", None)
        # 130: what J and the recorder see when Python re-raises SIGINT at exit (signal INT).
        sys.exit(130 if kbi else 1)
    g.pop("__file__", None)
    g.pop("__cached__", None)


def print_uncaught(e):
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == OWN_FILE:
        tb = tb.tb_next
    e.__traceback__ = tb
    for f in (sys.stderr, sys.stdout):
        try:
            f.flush()
        except Exception:  # noqa: BLE001
            pass
    sys.last_type, sys.last_value, sys.last_traceback = type(e), e, tb
    try:
        sys.excepthook(type(e), e, tb)
    except BaseException as e2:  # noqa: BLE001
        sys.stderr.write("Error in sys.excepthook:\n")
        sys.__excepthook__(type(e2), e2, e2.__traceback__)
        sys.stderr.write("\nOriginal exception was:\n")
        sys.__excepthook__(type(e), e, tb)
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass


def main(argv):
    if len(argv) >= 2 and argv[1] == "run":
        return client(argv[2:])
    if len(argv) >= 4 and argv[1] == "status":
        return status_client(argv[2:])
    if len(argv) >= 2 and argv[1] == "serve":
        got = serve(argv[2:])
        if got is None:
            return 0
        rs, g, tail = got
        rjk = waiter(rs, g)  # W never returns
        rk = job(rjk, g)  # J never returns
        run_script(rk, g, tail)  # K
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
