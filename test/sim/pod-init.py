"""PID 1 of a simulated kgpu pod (test/sim/pods.ts starts it inside fresh mount + PID namespaces).

Its argv is `pod-init.py <pod id> <gpu model> <gpu count>` (the image's nvidia-smi shim reads it
from /proc/1/cmdline) and its environment is the pod's (so /proc/1/environ carries KGPU_API_TOKEN,
as in a real container). It only reaps orphans (detached `setsid -f` jobs end up here). When it
dies, the kernel kills every process of the pod. Its stdin is a pipe from the simulator: when
the simulator goes away (even killed), the pipe ends and so does the pod.
"""
import os
import signal
import sys
import threading

signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
signal.signal(signal.SIGINT, lambda *_: os._exit(0))
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
sys.stdout.write("ready\n")
sys.stdout.flush()
os.close(1)
os.open("/dev/null", os.O_WRONLY)


def watch_parent():
    while True:
        try:
            if not os.read(0, 4096):
                os._exit(0)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)


threading.Thread(target=watch_parent, daemon=True).start()
while True:
    try:
        while True:
            os.waitpid(-1, 0)
    except ChildProcessError:
        pass
    signal.sigtimedwait({signal.SIGCHLD}, 5)
