"""PID 1 of a simulated kgpu pod (test/sim/pods.ts starts it inside fresh mount + PID + network +
UTS namespaces, already in the pod's cgroups).

Its argv is `pod-init.py <pod id> <gpu model> <gpu count>` (the image's nvidia-smi shim reads it
from /proc/1/cmdline) and its environment is the pod's (so /proc/1/environ carries KGPU_API_TOKEN,
as in a real container). The first line of its stdin is the pod's set-up, as JSON:

  hostname  the pod's hostname (its own UTS namespace)
  binds     [{source, target, mode?, readonly?}]  host folders or files at pod paths (/workspace,
            /tmp, /etc/hosts, the image's patched files, …)
  views     [{source, target}]         the pod's own cgroup(s), read-only, where a container sees them
  dev       folder to build the pod's /dev in before it is moved onto /dev
  gpus      GPU count: /dev/nvidia0…N-1, /dev/nvidiactl, /dev/nvidia-uvm… (inert character devices,
            or the machine's own when it has them)
  relays    [{host, port, socket}]     listen on host:port in the pod's network namespace and
            forward each connection to the Unix socket (the simulator's API and object store)

It sets the pod up (mounts, /dev, loopback, relays), says "ready" on stdout, then reaps orphans
(detached `setsid -f` jobs end up here) and relays. When it dies, the kernel kills every process
of the pod and its network namespace goes. The rest of its stdin is a pipe from the simulator:
when the simulator goes away (even killed), the pipe ends and so does the pod.
"""
import ctypes
import fcntl
import json
import os
import signal
import socket
import stat
import struct
import sys
import threading

signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
signal.signal(signal.SIGINT, lambda *_: os._exit(0))
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC = 1, 2, 4, 8, 32, 4096, 8192, 16384
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "mount %s on %s: %s" % (source or fstype, target, os.strerror(err)))


def read_config():
    buf = b""
    while b"\n" not in buf:
        chunk = os.read(0, 65536)
        if not chunk:
            sys.exit("kgpu pod-init: no set-up on stdin")
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return json.loads(line), rest


def char_dev(path, major, minor, mode=0o666):
    os.mknod(path, stat.S_IFCHR | mode, os.makedev(major, minor))
    os.chmod(path, mode)


def free_char_major():
    """A character major no driver registered (opening such a device fails with ENXIO): inert."""
    used = set()
    with open("/proc/devices") as f:
        section = None
        for line in f:
            if line.strip() == "Character devices:":
                section = "c"
            elif line.strip() == "Block devices:":
                section = "b"
            elif section == "c" and line.strip():
                used.add(int(line.split()[0]))
    for major in range(240, 255):  # "local/experimental use"
        if major not in used:
            return major
    return 254


def build_dev(staging, gpus):
    """A container's minimal /dev, with the NVIDIA entries CDI gives a pod of `gpus` GPUs."""
    host_nvidia = {n for n in os.listdir("/dev") if n.startswith("nvidia")}
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        char_dev(os.path.join(staging, name), major, minor)
    os.mkdir(os.path.join(staging, "pts"))
    mount("devpts", os.path.join(staging, "pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", os.path.join(staging, "ptmx"))
    os.mkdir(os.path.join(staging, "shm"))
    mount("shm", os.path.join(staging, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(staging, name))
    if gpus > 0:
        uvm = free_char_major()
        nodes = [("nvidia%d" % i, 195, i) for i in range(gpus)]
        nodes += [("nvidiactl", 195, 255), ("nvidia-modeset", 195, 254), ("nvidia-uvm", uvm, 0), ("nvidia-uvm-tools", uvm, 1)]
        for name, major, minor in nodes:
            path = os.path.join(staging, name)
            if name in host_nvidia:  # a machine with real GPUs: its own device
                open(path, "w").close()
                mount("/dev/" + name, path, None, MS_BIND)
            else:
                char_dev(path, major, minor)
    mount(staging, "/dev", None, MS_MOVE)


def loopback_up():
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def pump(src, dst):
    try:
        while True:
            data = src.recv(262144)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay_connection(conn, path):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        conn.close()
        upstream.close()
        return
    back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
    back.start()
    pump(conn, upstream)
    back.join()
    conn.close()
    upstream.close()


def relay(listener, path):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        threading.Thread(target=relay_connection, args=(conn, path), daemon=True).start()


def set_up(cfg):
    if cfg.get("hostname"):
        socket.sethostname(cfg["hostname"])
    for b in cfg.get("binds", []):
        mount(b["source"], b["target"], None, MS_BIND | MS_REC)
        if b.get("readonly"):
            mount(None, b["target"], None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        if "mode" in b:
            os.chmod(b["target"], int(b["mode"], 8))
    for v in cfg.get("views", []):
        mount(v["source"], v["target"], None, MS_BIND)
        mount(None, v["target"], None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if cfg.get("dev"):
        build_dev(cfg["dev"], int(cfg.get("gpus", 0)))
    loopback_up()
    listeners = []
    for r in cfg.get("relays", []):
        family = socket.AF_INET6 if ":" in r["host"] else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((r["host"], int(r["port"])))
        s.listen(128)
        listeners.append((s, r["socket"]))
    for s, path in listeners:
        threading.Thread(target=relay, args=(s, path), daemon=True).start()
    # The pod's processes are the OOM killer's candidates, not its init (as with Kubernetes' pause).
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-998")
    except OSError:
        pass


def watch_parent():
    while True:
        try:
            if not os.read(0, 4096):
                os._exit(0)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)


cfg, _ = read_config()
try:
    set_up(cfg)
except Exception as e:  # noqa: BLE001 - any failure: the pod cannot start; say why
    sys.stderr.write("kgpu pod-init: %s\n" % e)
    sys.exit(1)
sys.stdout.write("ready\n")
sys.stdout.flush()
os.close(1)
os.open("/dev/null", os.O_WRONLY)
threading.Thread(target=watch_parent, daemon=True).start()
while True:
    try:
        while True:
            os.waitpid(-1, 0)
    except ChildProcessError:
        pass
    signal.sigtimedwait({signal.SIGCHLD}, 5)
