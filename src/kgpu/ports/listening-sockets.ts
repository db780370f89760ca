/**
 * The pod's listening TCP sockets, read from `/proc/net/tcp` and `/proc/net/tcp6` by a small
 * stdlib-only Python program run as an agent process stream (no shell, no extra SSH connection):
 * it prints one JSON line with the whole list at start and again each time the list changes
 * (checked every `intervalMs`), or once with `once`. Each socket names its owner when this user
 * can see it ("train.py is listening on 6006"). Only sockets the agent can reach are listed:
 * bound to a loopback address or to every address (0.0.0.0 / ::).
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

export interface ListeningSocket {
  port: number;
  /** Where the agent should connect: '127.0.0.1' or '::1'. */
  host: string;
  pid?: number;
  /** What to call the owner: a script name (`train.py`), `python -m` module, or program name. */
  name?: string;
}

export const LISTEN_WATCH_SCRIPT = String.raw`
import json, os, sys, time
interval = float(sys.argv[1])
once = sys.argv[2] == "once"
LOOPBACK4 = ("0100007F", "00000000")

def reachable(af, hexaddr):
    if af == 4:
        return hexaddr in LOOPBACK4 or hexaddr.endswith("7F")
    return hexaddr in ("00000000000000000000000000000000", "00000000000000000000000001000000")

def scan():
    found = {}
    for af, path in ((4, "/proc/net/tcp"), (6, "/proc/net/tcp6")):
        try:
            with open(path) as f:
                rows = f.read(4 << 20).splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if len(parts) < 10 or parts[3] != "0A":
                continue
            addr, _, port = parts[1].partition(":")
            if not reachable(af, addr):
                continue
            port = int(port, 16)
            host = "::1" if af == 6 and addr.endswith("01000000") else "127.0.0.1"
            if port not in found or found[port][0] == "::1":
                found[port] = (host, parts[9])
    return found

def owners(inodes):
    out = {}
    want = set("socket:[%s]" % i for i in inodes)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return out
    for pid in pids:
        if not want:
            break
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link in want:
                want.discard(link)
                out[link[8:-1]] = int(pid)
    return out

def name_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read(65536).split(b"\0")
    except OSError:
        return None
    argv = [a.decode("utf-8", "replace") for a in argv if a]
    if not argv:
        return None
    prog = os.path.basename(argv[0])
    if prog.startswith("python"):
        rest = argv[1:]
        for i, a in enumerate(rest):
            if a == "-m" and i + 1 < len(rest):
                return rest[i + 1]
            if a == "-c":
                return prog
            if not a.startswith("-"):
                return os.path.basename(a)
    return prog

last = None
names = {}
while True:
    found = scan()
    key = sorted((p, h) for p, (h, _) in found.items())
    if key != last:
        missing = [ino for p, (h, ino) in found.items() if ino not in names]
        for ino, pid in owners(missing).items():
            names[ino] = (pid, name_of(pid))
        rows = []
        for port, (host, ino) in sorted(found.items()):
            row = {"port": port, "host": host}
            if ino in names:
                row["pid"], row["name"] = names[ino]
            rows.append(row)
        sys.stdout.write(json.dumps(rows) + "\n")
        sys.stdout.flush()
        last = key
    if once:
        break
    time.sleep(interval)
`;

/** argv of the watcher (an agent process target). */
export function listenWatchArgv(options: { intervalMs?: number; once?: boolean } = {}): string[] {
  return [
    'python3',
    '-I',
    '-S',
    '-c',
    LISTEN_WATCH_SCRIPT,
    String(Math.max(0.2, (options.intervalMs ?? 2000) / 1000)),
    options.once ? 'once' : 'loop',
  ];
}

/** One line of the watcher's output; undefined for anything malformed (pod data is bounded and checked). */
export function parseListenLine(line: string): ListeningSocket[] | undefined {
  if (line.length > 1_000_000) return undefined;
  let rows: unknown;
  try {
    rows = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!Array.isArray(rows)) return undefined;
  const out: ListeningSocket[] = [];
  for (const r of rows.slice(0, 4096)) {
    if (typeof r !== 'object' || r === null) continue;
    const { port, host, pid, name } = r as Record<string, unknown>;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    if (host !== '127.0.0.1' && host !== '::1') continue;
    out.push({
      port,
      host,
      ...(typeof pid === 'number' && Number.isInteger(pid) ? { pid } : {}),
      ...(typeof name === 'string' && name.length > 0 ? { name: name.slice(0, 80) } : {}),
    });
  }
  return out;
}

/** Call `onList` with each complete list the watcher prints on `stdout` (lines bounded to 1 MB). */
export function readListenLines(stdout: Readable, onList: (list: ListeningSocket[]) => void): void {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  stdout.on('data', (chunk: Buffer) => {
    pending += decoder.write(chunk);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const list = parseListenLine(line);
      if (list) onList(list);
    }
    if (pending.length > 1_000_000) pending = '';
  });
}
