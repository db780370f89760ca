"""kgpu: a project's dependencies in the pod (issue 22) - stdlib only, Python >= 3.8.

Placed by content hash in /tmp/kgpu-<uid>/ and run with the interpreter of kgpu.python:

    deps.py ensure VENV PROJECT HASH    make VENV (a virtual environment with
                                        --system-site-packages, so the image's PyTorch stays) hold
                                        PROJECT's dependencies: requirements.txt, the
                                        [project] dependencies of pyproject.toml, environment.yml
    deps.py add VENV PROJECT PKG...     install PKG... into VENV (an installed one)

`uv` when the image has it (uv venv, uv pip install), else `python -m venv` and pip (the image's
own pip, run inside the venv, when the interpreter has one: no copy of pip per venv). VENV is
ready once VENV/.kgpu-deps.json exists (written last); a venv without it (a failed or interrupted
install) is made anew. Concurrent runs wait on VENV.lock. The installer's output is streamed on
stdout; the last line is `KGPU-DEPS ready installed|reused` or `KGPU-DEPS failed <why>`.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time

MARKER = ".kgpu-deps.json"
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


def pip_install(venv, args, cwd):
    py = os.path.join(venv, "bin", "python")
    uv = has_uv()
    if uv:
        run([uv, "pip", "install", "--python", py] + args, cwd=cwd)
    else:
        run([py, "-m", "pip", "install", "--no-color", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"] + args, cwd=cwd)


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


def ensure(venv, project, digest):
    marker = os.path.join(venv, MARKER)
    if os.path.isfile(marker):
        say("KGPU-DEPS ready reused")
        return 0
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with Lock(venv + ".lock"):
        if os.path.isfile(marker):  # another run installed it while this one waited
            say("KGPU-DEPS ready reused")
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
                pip_install(venv, args, project)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        record = {"hash": digest, "files": files, "python": sys.executable, "installer": "uv" if has_uv() else "pip", "seconds": round(time.time() - t0, 1)}
        with open(marker + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(marker + ".tmp", marker)
        say("[kgpu] installed in %.1f s" % (time.time() - t0))
        say("KGPU-DEPS ready installed")
    return 0


def add(venv, project, pkgs):
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with Lock(venv + ".lock"):
        if not os.path.isfile(os.path.join(venv, MARKER)):
            raise Failed("the project's environment %s is not installed; run the file again" % venv)
        pip_install(venv, list(pkgs), project)
        say("KGPU-DEPS ready installed")
    return 0


def main(argv):
    try:
        if len(argv) == 4 and argv[0] == "ensure":
            return ensure(argv[1], argv[2], argv[3])
        if len(argv) >= 4 and argv[0] == "add":
            return add(argv[1], argv[2], argv[3:])
        say("KGPU-DEPS failed usage: deps.py ensure VENV PROJECT HASH | add VENV PROJECT PKG...")
        return 2
    except Failed as e:
        say("KGPU-DEPS failed %s" % str(e).replace("\n", " "))
        return 1
    except Exception as e:
        say("KGPU-DEPS failed %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
