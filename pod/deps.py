"""kgpu: a project's dependencies in the pod (issue 22) - stdlib only, Python >= 3.8.

Placed by content hash in /tmp/kgpu-<uid>/ and run with the interpreter of kgpu.python:

    deps.py ensure VENV PROJECT HASH    make VENV (a virtual environment with
                                        --system-site-packages, so the image's PyTorch stays) hold
                                        PROJECT's dependencies: requirements.txt, the
                                        [project] dependencies of pyproject.toml, environment.yml
    deps.py add VENV PROJECT PKG...     install PKG... into VENV (an installed one)
    deps.py find DIR TOP PYTHON VENVS   for a file already in the pod (kgpu://): the nearest folder
                                        from DIR up to TOP with dependency files, hashed as
                                        src/kgpu/deps/plan.ts hashes a synced folder (the same
                                        bytes: the same environment); prints `KGPU-DEPS venv VENV
                                        PROJECT` then ensures it, or `KGPU-DEPS none`
    deps.py pip PYTHON CWD PKG...       install PKG... with PYTHON itself (kgpu.installDependencies
                                        off: the user's own interpreter)

`uv` when the image has it (uv venv, uv pip install), else `python -m venv` and pip (the image's
own pip, run inside the venv, when the interpreter has one: no copy of pip per venv). VENV is
ready once VENV/.kgpu-deps.json exists (written last); a venv without it (a failed or interrupted
install) is made anew. Concurrent runs wait on VENV.lock. The installer's output is streamed on
stdout; the last line is `KGPU-DEPS ready installed|reused` or `KGPU-DEPS failed <why>`.

The environment (kgpu.env: a private index's PIP_INDEX_URL with its token) comes from the caller's
shell, never from the command line. A reused environment's marker is touched (its "last used"
time). After a new environment is made, that project's older environments are removed when
nothing uses them: no process of the pod names the environment's path on its command line (a
job, a job forked by the environment's fork server, a pip), its marker was not touched in the
last GRACE seconds (a run between its check and its start) and no install holds its lock; the
environment's idle fork server is stopped. The environment is renamed away first (atomic), so a
run that checks its marker after that installs it anew instead of starting half a folder.
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

MARKER = ".kgpu-deps.json"
GRACE = 600
VENV_RE = re.compile(r"^(.+)-[0-9a-f]{16}$")
FILES = ("requirements.txt", "pyproject.toml", "environment.yml")


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Failed(Exception):
    pass


def run(argv, cwd=None, tail=None):
    """Run argv, streaming its output (stdout and stderr, in order); raise Failed on an error."""
    say("$ " + " ".join(argv))
    try:
        p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise Failed("%s: %s" % (argv[0], e))
    last = []
    for raw in iter(p.stdout.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        say(line)
        last.append(line)
        del last[:-40]
    rc = p.wait()
    if rc != 0:
        errors = [l for l in last if l.startswith("ERROR") or l.startswith("error")]
        raise Failed((" ".join(errors) if errors else " | ".join(l for l in last[-5:] if l.strip())) or "%s exited with %d" % (os.path.basename(argv[0]), rc))


def pyproject_deps(path):
    try:
        import tomllib
    except ImportError:
        raise Failed("pyproject.toml needs Python 3.11 or later in the pod (tomllib) to be read")
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise Failed("pyproject.toml: %s" % e)
    deps = (data.get("project") or {}).get("dependencies") or []
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise Failed("pyproject.toml: [project] dependencies is not a list of strings")
    return deps


def installed(name):
    try:
        from importlib import metadata
        metadata.distribution(name)
        return True
    except Exception:
        return False


def environment_deps(path):
    """The packages of environment.yml's `dependencies:` list: its `- pip:` entries as they are,
    conda entries (`name`, `name=1.2`, `name>=1.2`) as pip requirements, except python, pip and
    those the image already has (conda names them as the image's Debian packages do)."""
    out, in_deps, in_pip, pip_indent = [], False, False, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.split("#", 1)[0].rstrip()
            if not text.strip():
                continue
            indent = len(text) - len(text.lstrip())
            if indent == 0:
                in_deps, in_pip = text.strip() == "dependencies:", False
                continue
            if not in_deps:
                continue
            item = text.strip()
            if not item.startswith("-"):
                continue
            item = item[1:].strip().strip("'\"")
            if in_pip and indent > pip_indent:
                out.append(item)
                continue
            in_pip = False
            if item.rstrip() == "pip:":
                in_pip, pip_indent = True, indent
                continue
            m = re.match(r"^(?:[\w.-]+::)?([A-Za-z0-9][\w.-]*)\s*(?:(==?|>=|<=|>|<|!=)\s*([^=\s]+))?", item)
            if not m:
                continue
            name, op, ver = m.group(1), m.group(2), m.group(3)
            if name.lower() in ("python", "pip"):
                continue
            if installed(name):
                say("[kgpu] environment.yml: %s is in the image already" % name)
                continue
            out.append(name + ({"=": "=="}.get(op, op) + ver if op else ""))
    return out


def has_uv():
    return shutil.which("uv")


def make_venv(venv):
    uv = has_uv()
    if uv:
        run([uv, "venv", "--system-site-packages", "--python", sys.executable, venv])
        return
    try:
        import pip  # noqa: F401  (the interpreter has pip: the venv uses it through its system site)
        without_pip = ["--without-pip"]
    except ImportError:
        without_pip = []
    run([sys.executable, "-m", "venv", "--system-site-packages"] + without_pip + [venv])


def pip_install(python, args, cwd):
    """pip install ARGS for PYTHON (a venv's or the user's own): with uv when the image has it, else
    with PYTHON's pip."""
    uv = has_uv()
    if uv:
        run([uv, "pip", "install", "--python", python] + args, cwd=cwd)
    else:
        run([python, "-m", "pip", "install", "--no-color", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"] + args, cwd=cwd)


def project_args(project):
    """pip arguments for the project's dependency files (in the order of FILES)."""
    args, files = [], []
    for name in FILES:
        p = os.path.join(project, name)
        if not os.path.isfile(p):
            continue
        if name == "requirements.txt":
            args += ["-r", p]
        elif name == "pyproject.toml":
            args += pyproject_deps(p)
        else:
            args += environment_deps(p)
        files.append(name)
    return files, args


class Lock:
    def __init__(self, path):
        self.fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)

    def __enter__(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("[kgpu] waiting for another install into this environment...")
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def reused(marker):
    """True when the environment is installed (its marker exists): the marker is touched (its last
    use) and the run told so."""
    if not os.path.isfile(marker):
        return False
    touch(marker)
    say("KGPU-DEPS ready reused")
    return True


def ensure(venv, project, digest):
    marker = os.path.join(venv, MARKER)
    if reused(marker):
        return 0
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with Lock(venv + ".lock"):
        if reused(marker):  # another run installed it while this one waited
            return 0
        t0 = time.time()
        files, args = project_args(project)
        if not files:
            raise Failed("no requirements.txt, pyproject.toml or environment.yml in %s" % project)
        say("[kgpu] installing %s into %s (%s)" % (", ".join(files), venv, "uv" if has_uv() else "venv + pip"))
        shutil.rmtree(venv, ignore_errors=True)
        try:
            make_venv(venv)
            if args:
                pip_install(os.path.join(venv, "bin", "python"), args, project)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        record = {"hash": digest, "project": project, "files": files, "python": sys.executable, "installer": "uv" if has_uv() else "pip", "seconds": round(time.time() - t0, 1)}
        with open(marker + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(marker + ".tmp", marker)
        say("[kgpu] installed in %.1f s" % (time.time() - t0))
    try:
        remove_old(venv, project)
    except Exception as e:  # never fails the run: the old environments stay
        say("[kgpu] could not remove old environments: %s" % e)
    say("KGPU-DEPS ready installed")
    return 0


def touch(path):
    try:
        os.utime(path)
    except OSError:
        pass


def read_bounded(path, n=65536):
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    stat = read_bounded("/proc/%d/stat" % pid, 1024)
    return b") Z " not in stat


def parent(pid):
    stat = read_bounded("/proc/%d/stat" % pid, 1024)
    try:
        return int(stat[stat.rindex(b")") + 2 :].split()[1])
    except (ValueError, IndexError):
        return 0


def descends(pid, ancestor):
    for _ in range(64):
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        pid = parent(pid)
    return False


def users(paths, servers):
    """{path: what uses it}: a live job (its record under the jobs folder beside the venvs folder
    names path/ in its command line), or a process of the pod whose command line names path/ (a
    pip, a debugger, a kernel), except the path's fork server and the processes it keeps forked
    ahead of a run (its jobs are jobs: they have records)."""
    found = {p: [] for p in paths}
    jobs = os.path.join(os.path.dirname(os.path.dirname(paths[0])), "jobs")
    try:
        ids = sorted(os.listdir(jobs))[-5000:]
    except OSError:
        ids = []
    for i in ids:
        d = os.path.join(jobs, i)
        if os.path.exists(os.path.join(d, "exit_code")) or os.path.exists(os.path.join(d, "signal")):
            continue
        w = read_bounded(os.path.join(d, "wpid"), 64).strip()
        if not w.isdigit() or not alive(int(w)):
            continue
        cmd = read_bounded(os.path.join(d, "cmd"))
        for p in paths:
            if p.encode() + b"/" in cmd:
                found[p].append("job " + i)
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        cmd = read_bounded("/proc/%s/cmdline" % pid)
        if not cmd:
            continue
        for p in paths:
            b = p.encode()
            if b + b"/" in cmd or cmd.split(b"\0")[0] == b:
                if not (servers.get(p) and descends(int(pid), servers[p])):
                    found[p].append("pid " + pid)
    return found


def fork_server_pid(venv):
    """The pid of the environment's fork server (pod/forkserver.py: one per interpreter path,
    its pid file in this script's own private directory), if one is recorded."""
    key = hashlib.sha256((venv + "/bin/python").encode()).hexdigest()[:16]
    words = read_bounded(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fs-%s.pid" % key), 300).split()
    return int(words[0]) if words and words[0].isdigit() else None


def same_project(venv, project):
    try:
        with open(os.path.join(venv, MARKER)) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return True  # a half-made environment, or one from before the project was recorded
    return rec.get("project", project) == project


def recently_used(venv):
    try:
        return time.time() - os.stat(os.path.join(venv, MARKER)).st_mtime < GRACE
    except OSError:
        return False


def remove_old(venv, project):
    """Remove the project's other environments that nothing uses (see the module's comment)."""
    root, name = os.path.split(venv)
    m = VENV_RE.match(name)
    if not m:
        return
    old = []
    for n in sorted(os.listdir(root)):
        p = os.path.join(root, n)
        if n == name or VENV_RE.match(n) is None or VENV_RE.match(n).group(1) != m.group(1) or not os.path.isdir(p) or os.path.islink(p):
            continue
        if same_project(p, project):
            old.append(p)
    if not old:
        return
    servers = {p: fork_server_pid(p) for p in old}
    using = users(old, servers)
    for p in old:
        fs = servers[p]
        if using[p]:
            say("[kgpu] keeping %s: in use (%s)" % (os.path.basename(p), ", ".join(using[p][:3])))
            continue
        if recently_used(p):
            say("[kgpu] keeping %s: used in the last %d minutes" % (os.path.basename(p), GRACE // 60))
            continue
        lock = os.open(p + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # an install into it is under way
            gone = "%s.old-%d" % (p, os.getpid())
            os.rename(p, gone)
            # A run that touched the marker just before the rename: put it back.
            if recently_used(gone) or users([p], servers)[p]:
                os.rename(gone, p)
                continue
            if fs and alive(fs) and (p + "/").encode() in read_bounded("/proc/%d/cmdline" % fs):
                try:
                    os.kill(fs, signal.SIGTERM)
                    say("[kgpu] stopped the fork server of %s" % os.path.basename(p))
                except OSError:
                    pass
            shutil.rmtree(gone, ignore_errors=True)
            try:
                os.unlink(p + ".lock")
            except OSError:
                pass
            say("[kgpu] removed the old environment %s" % os.path.basename(p))
        finally:
            os.close(lock)


def pip_with(python, cwd, pkgs):
    pip_install(python, list(pkgs), cwd)
    say("KGPU-DEPS ready installed")
    return 0


def add(venv, project, pkgs):
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with Lock(venv + ".lock"):
        if not os.path.isfile(os.path.join(venv, MARKER)):
            raise Failed("the project's environment %s is not installed; run the file again" % venv)
        pip_install(os.path.join(venv, "bin", "python"), list(pkgs), project)
        say("KGPU-DEPS ready installed")
    return 0


MAX_DEP_FILE = 1 << 20
MAX_INCLUDED = 32
INCLUDE_RE = re.compile(r"^(?:-[rc]\s*=?\s*|--(?:requirement|constraint)(?:\s*=\s*|\s+))(\S+)")


def read_dep(path):
    """A regular file (never a symlink) of at most MAX_DEP_FILE bytes, else None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_DEP_FILE:
        return None
    try:
        with open(path, "rb") as f:
            return f.read(MAX_DEP_FILE + 1)
    except OSError:
        return None


def referenced(text):
    """plan.ts referencedFiles: the -r / -c files a requirements file names."""
    out = []
    for raw in re.split(r"\r?\n", re.sub(r"\\\r?\n", "", text)):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        m = INCLUDE_RE.match(line)
        if not m:
            continue
        ref = re.sub(r"^(['\"])(.*)\1$", r"\2", m.group(1))
        if not ref or "://" in ref or "${" in ref or ref.startswith("file:"):
            continue
        out.append(ref)
    return out


def inside(top, p):
    rel = os.path.relpath(p, top)
    return rel != "." and not rel.startswith("..") and not os.path.isabs(rel)


def included(top, root_file, root_bytes):
    """plan.ts includedFiles: breadth first, each once, inside top only, at most MAX_INCLUDED."""
    top = os.path.realpath(top)
    seen = {os.path.realpath(root_file)}
    out, queue = [], [(root_file, root_bytes)]
    while queue and len(out) < MAX_INCLUDED:
        f, b = queue.pop(0)
        for ref in referenced(b.decode("utf-8", "replace")):
            if len(out) >= MAX_INCLUDED:
                break
            target = os.path.normpath(os.path.join(os.path.dirname(f), ref))
            d = os.path.realpath(os.path.dirname(target))
            resolved = os.path.join(d, os.path.basename(target))
            if not os.path.isdir(d) or not inside(top, resolved) or resolved in seen:
                continue
            seen.add(resolved)
            data = read_dep(resolved)
            if data is None:
                continue
            out.append(("-r " + os.path.relpath(resolved, top), data))
            queue.append((resolved, data))
    return out


MAX_PACKAGE_FILES = 1000
MAX_ARCHIVE = 64 << 20
SKIP_DIRS = {".git", "__pycache__", "build", "dist", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}
METADATA = ("pyproject.toml", "setup.py", "setup.cfg")
EDITABLE_RE = re.compile(r"^(?:-e|--editable)(?:\s*=\s*|\s+|(?=[.'\"]))(\S+)")
PATH_RE = re.compile(r"^(\.{1,2}(?:[/\\]\S*)?|file:\S+)$")
AT_FILE_RE = re.compile(r"^[A-Za-z0-9][\w.\-\[\], ]*@\s*(file:\S+)")
PYPROJECT_FILE_RE = re.compile(r"[\"'][A-Za-z0-9][\w.\-\[\], ]*@\s*(file:[^\"'\s;]+)[^\"']*[\"']")


def clean_ref(raw):
    """local-refs.ts cleanRef: the path, or None when it is not local."""
    ref = re.sub(r"^(['\"])(.*)\1$", r"\2", raw)
    ref = re.sub(r"\[[^\]]*\]$", "", re.sub(r"[;#].*$", "", ref))
    if ref.startswith("file:"):
        ref = ref[5:]
    if not ref or "://" in ref or "${" in ref or ref.startswith("/") or ref.startswith("\\"):
        return None
    return ref


def requirement_local_refs(text):
    """local-refs.ts requirementLocalRefs: [(path, editable)]."""
    out = []
    for raw in re.split(r"\r?\n", re.sub(r"\\\r?\n", "", text)):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        m = EDITABLE_RE.match(line)
        if m:
            ref = clean_ref(m.group(1))
            if ref:
                out.append((ref, True))
            continue
        first = re.split(r"\s+", line)[0] if line else ""
        m = PATH_RE.match(first) or AT_FILE_RE.match(line)
        if m:
            ref = clean_ref(m.group(1))
            if ref:
                out.append((ref, False))
    return out


def pyproject_local_refs(text):
    out = []
    for m in PYPROJECT_FILE_RE.finditer(text):
        ref = clean_ref(m.group(1))
        if ref:
            out.append((ref, False))
    return out


def regular_file(p, limit):
    try:
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with open(p, "rb") as f:
            return f.read(limit + 1)
    except OSError:
        return None


def package_files(d):
    """local-refs.ts packageFiles: sorted relative paths, or None for more than MAX_PACKAGE_FILES."""
    out = []

    def walk(path, rel):
        try:
            entries = list(os.scandir(path))
        except OSError:
            return True
        for e in entries:
            r = rel + "/" + e.name if rel else e.name
            if e.is_dir(follow_symlinks=False):
                if e.name in SKIP_DIRS or e.name.endswith(".egg-info"):
                    continue
                if not walk(os.path.join(path, e.name), r):
                    return False
            elif e.is_file(follow_symlinks=False):
                out.append(r)
                if len(out) > MAX_PACKAGE_FILES:
                    return False
        return True

    return sorted(out) if walk(d, "") else None


def local_package_files(top, project, refs):
    """local-refs.ts localPackageFiles: the hash entries of the local packages refs name."""
    top = os.path.realpath(top)
    seen, out = set(), []

    def add(name, f, limit):
        if f in seen:
            return
        seen.add(f)
        data = regular_file(f, limit)
        if data is not None:
            out.append((name, data))

    for ref, editable in refs:
        target = os.path.normpath(os.path.join(project, ref))
        parent = os.path.dirname(target)
        if not os.path.exists(parent):
            continue
        resolved = os.path.join(os.path.realpath(parent), os.path.basename(target))
        try:
            st = os.lstat(resolved)
        except OSError:
            continue
        rel = os.path.relpath(resolved, top)
        if rel.startswith("..") or os.path.isabs(rel):
            continue
        rel = "" if rel == "." else rel
        at = (lambda f, rel=rel: rel + "/" + f if rel else f)
        if stat.S_ISREG(st.st_mode):
            add("pkg " + rel, resolved, MAX_ARCHIVE)
        elif not stat.S_ISDIR(st.st_mode):
            continue
        elif editable:
            for f in METADATA:
                add("-e " + at(f), os.path.join(resolved, f), MAX_DEP_FILE)
        else:
            files = package_files(resolved)
            if files is None:
                key = resolved + "/"
                if key not in seen:
                    seen.add(key)
                    out.append(("pkg " + at("") + " (too many files)", b""))
            else:
                for f in files:
                    add("pkg " + at(f), os.path.join(resolved, *f.split("/")), MAX_DEP_FILE)
    return out


def venv_name(folder):
    s = re.sub(r"^[._-]+", "", re.sub(r"[^A-Za-z0-9_.-]+", "_", folder))[:40]
    return s or "project"


def find(start, top, python, venvs):
    """The environment of a file in start/ (see the module's comment)."""
    start, top = os.path.normpath(start), os.path.normpath(top)
    dirs = [start]
    if inside(top, start):
        d = start
        while d != top:
            d = os.path.dirname(d)
            dirs.append(d)
    else:
        top = start
    for d in dirs:
        found = []
        for name in FILES:
            data = read_dep(os.path.join(d, name))
            if data is None:
                continue
            if name == "pyproject.toml":
                text = data.decode("utf-8", "replace")
                if not (re.search(r"^\s*\[project\]\s*$", text, re.M) and re.search(r"^\s*dependencies\s*=\s*\[", text, re.M)):
                    continue
            found.append((name, data))
        if not found:
            continue
        req = [b for n, b in found if n == "requirements.txt"]
        extra = included(top, os.path.join(d, "requirements.txt"), req[0]) if req else []
        texts = ([req[0]] if req else []) + [b for _, b in extra]
        refs = [r for b in texts for r in requirement_local_refs(b.decode("utf-8", "replace"))]
        refs += [r for n, b in found if n == "pyproject.toml" for r in pyproject_local_refs(b.decode("utf-8", "replace"))]
        extra = extra + local_package_files(top, d, refs)
        h = hashlib.sha256(b"kgpu-deps 1\0" + python.encode() + b"\0")
        for name, data in found + extra:
            h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0")
            h.update(data)
        venv = os.path.join(venvs, "%s-%s" % (venv_name(os.path.basename(d)), h.hexdigest()[:16]))
        say("KGPU-DEPS venv %s %s" % (venv, d))
        return ensure(venv, d, h.hexdigest()[:16])
    say("KGPU-DEPS none")
    return 0


def main(argv):
    try:
        if len(argv) == 4 and argv[0] == "ensure":
            return ensure(argv[1], argv[2], argv[3])
        if len(argv) >= 4 and argv[0] == "add":
            return add(argv[1], argv[2], argv[3:])
        if len(argv) == 5 and argv[0] == "find":
            return find(argv[1], argv[2], argv[3], argv[4])
        if len(argv) >= 4 and argv[0] == "pip":
            return pip_with(argv[1], argv[2], argv[3:])
        say("KGPU-DEPS failed usage: deps.py ensure VENV PROJECT HASH | add VENV PROJECT PKG... | pip PYTHON CWD PKG...")
        return 2
    except Failed as e:
        say("KGPU-DEPS failed %s" % str(e).replace("\n", " "))
        return 1
    except Exception as e:
        say("KGPU-DEPS failed %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
