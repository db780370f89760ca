# kgpu: runs a script as a job under debugpy (stdlib only, placed by content hash): the job's
# command is `<python> [torchrun …] debug_launch_<hash>.py <script> <args>`. In the rank to debug
# (KGPU_DEBUG_RANK, default 0; a plain run has no RANK and is always debugged) it calls
# debugpy.listen() on the pod's loopback, records the port (a marker <private dir>/debug/<pid>.json,
# which kgpu: Attach Debugger reads, and one line in the job's log, which the launch reads), waits
# for the debugger (KGPU_DEBUG_STOP_ON_ENTRY=1: then stops on the script's first line), then runs the
# script as `python script args` would; other ranks run it plainly.
import json, os, runpy, sys

want = os.environ.pop("KGPU_DEBUG_RANK", "0")
stop_on_entry = os.environ.pop("KGPU_DEBUG_STOP_ON_ENTRY", "") == "1"
argv = sys.argv[1:]
if not argv:
    sys.stderr.write("kgpu-debug: no script to run\n")
    sys.exit(2)
rank = os.environ.get("RANK")
if rank is None or rank == want:
    try:
        import debugpy
    except ImportError:
        sys.stderr.write(
            "kgpu: debugpy is not installed for %s in this pod. Install it (`%s -m pip install debugpy`, "
            "or add debugpy to the project's requirements.txt) and debug again; kgpu's default image has it.\n"
            % (sys.executable, sys.executable)
        )
        sys.exit(3)
    host, port = debugpy.listen(("127.0.0.1", 0))
    d = "/tmp/kgpu-%d/debug" % os.getuid()
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        t = "%s/.%d.tmp" % (d, os.getpid())
        with open(t, "w") as fh:
            json.dump({"pid": os.getpid(), "port": port, "rank": rank, "script": argv[0]}, fh)
        os.replace(t, "%s/%d.json" % (d, os.getpid()))
    except OSError:
        pass
    sys.stderr.write("[kgpu] debugpy waits for the debugger on 127.0.0.1:%d (pid %d)\n" % (port, os.getpid()))
    sys.stderr.flush()
    debugpy.wait_for_client()
    if stop_on_entry:
        # What debugpy's own launch does for "stopOnEntry": step into the user's code from here
        # (this file is excluded from it by the attach's rules), i.e. stop on the script's first line.
        try:
            from _pydevd_bundle.pydevd_api import PyDevdAPI

            PyDevdAPI().stop_on_entry()
        except Exception as e:
            sys.stderr.write("[kgpu] stopOnEntry is not available (%s)\n" % e)
sys.argv = argv
sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
runpy.run_path(argv[0], run_name="__main__")
