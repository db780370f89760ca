/**
 * The POSIX sh scripts that run detached jobs inside a pod and read their state back. Every script
 * is sent as ONE quoted argument of `sh -c` and gets its inputs as positional arguments, so user
 * commands, paths and names are never parsed as shell by us (only the job's own command line is,
 * on purpose, by the job's `sh -c`).
 *
 * Per job, under `<jobsRoot>/<jobId>/` (files that say how a job ended, and meta.json, are written
 * to a temp name and `mv`ed into place, so a reader never sees half a file; the pid files are one
 * short write each — a reader may at most find one still empty, which reads as "not yet"):
 *   meta.json      {id,name,command,cwd,createdAt} written by the start command (client clock)
 *   cmd, cwd       the command line and working directory, as plain text
 *   log            the job's stdout+stderr, raw bytes (ANSI and \r preserved)
 *   wpid           the wrapper's pid (alive ⇔ the job has not finished recording)
 *   pid, pgid      the job's process; it leads its own session and process group, so
 *                  `kill -- -<pgid>` reaches the job and every child it spawned, never the wrapper
 *   started_at     pod clock, ms since the epoch (written beside the job's start)
 *   oom_before     the memory cgroup's oom_kill count at start, when readable
 *   stop_requested written by stopJob before it signals the group (so a KILL is known to be ours)
 *   ended_at       pod clock, ms; then exactly one of
 *   exit_code | signal   ("KILL", "TERM", …) — the end marker, written last
 *   oom            number of kernel oom_kills in the pod's memory cgroup during the job, if > 0
 *
 * Exit status: the wrapper waits for the job and reads `$?`; a value 129…192 is reported as the
 * signal 128+n (a POSIX shell cannot tell `exit 137` from SIGKILL — documented limitation).
 */

/** Helpers shared by every script. `$d` is the job directory, `$id` the job id. */
const PRELUDE = String.raw`
w() { printf '%s\n' "$2" > "$d/.$1.tmp" && mv -f "$d/.$1.tmp" "$d/$1"; }
now() { t=$(date +%s%3N 2>/dev/null); case $t in ''|*N*) t=$(( $(date +%s) * 1000 ));; esac; printf '%s' "$t"; }
r() { [ -f "$1" ] && tr -cd '0-9A-Za-z_.-' < "$1"; }
ended() { [ -f "$d/exit_code" ] || [ -f "$d/signal" ]; }
alive() { kill -0 "$1" 2>/dev/null || return 1; case $(sed -n 's/^.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) in Z) return 1;; esac; }
emit() {
  a=false; wp=$(r "$d/wpid"); [ -n "$wp" ] && alive "$wp" && a=true
  ls=$(wc -c < "$d/log" 2>/dev/null | tr -cd 0-9); [ -n "$ls" ] || ls=0
  printf '{"id":"%s","alive":%s,"log_size":%s,"wpid":"%s","pid":"%s","started_at":"%s","ended_at":"%s","exit_code":"%s","signal":"%s","oom":"%s","stop_requested":"%s","meta":' \
    "$id" "$a" "$ls" "$wp" "$(r "$d/pid")" "$(r "$d/started_at")" "$(r "$d/ended_at")" "$(r "$d/exit_code")" "$(r "$d/signal")" "$(r "$d/oom")" "$(r "$d/stop_requested")"
  if [ -f "$d/meta.json" ]; then tr -d '\n' < "$d/meta.json"; else printf null; fi
  printf '}\n'
}
`;

/** The memory cgroup's oom_kill count (cgroup v2, else v1), empty when unreadable. */
const OOMC = String.raw`oomc() { for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
  if [ -r "$f" ]; then sed -n 's/^oom_kill //p' "$f" 2>/dev/null; return; fi; done; }`;

/** How a job ended, from the exit status `$rc` of its process: ended_at, oom, then the end marker. */
const RECORD_END = String.raw`ob=$(r "$d/oom_before"); oa=$(oomc)
w ended_at "$(now)"
if [ -n "$ob" ] && [ -n "$oa" ] && [ "$oa" -gt "$ob" ] 2>/dev/null; then w oom $((oa - ob)); fi
if [ "$rc" -gt 128 ] && [ "$rc" -le 192 ] && s=$(kill -l $((rc - 128)) 2>/dev/null) && [ -n "$s" ]; then w signal "$s"; else w exit_code "$rc"; fi
`;

/**
 * The wrapper, run as `setsid -f sh -c WRAPPER kgpu-job <jobsRoot> <id> <cwd> <command line>`.
 * It records pids and times, runs the command in its own session/process group with the log as
 * stdout+stderr, and records how it ended.
 */
export const WRAPPER_SCRIPT = String.raw`${PRELUDE}
${OOMC}
# The job inherits this shell's environment (the user's kgpu.env, exported by the start): nothing
# is assigned here before it starts, so an entry named d or id reaches it as the user set it.
printf '%s\n' $$ > "$1/$2/wpid"
# Start time and the cgroup's OOM-kill count are recorded beside the job, not before it, so the
# first log line is not delayed by them.
{ id=$2; d=$1/$2; w started_at "$(now)"; o=$(oomc); [ -n "$o" ] && w oom_before "$o"; } &
setsid sh -c 'printf "%s\n" $$ > "$1/pid"; printf "%s\n" $$ > "$1/pgid"
cd "$2" || { echo "kgpu: cannot enter the working directory $2" >&2; exit 127; }
exec sh -c "$3"' kgpu-job-cmd "$1/$2" "$3" "$4" < /dev/null >> "$1/$2/log" 2>&1
rc=$?
wait
id=$2; d=$1/$2
${RECORD_END}`;

/**
 * The end of a job whose waiter is not WRAPPER_SCRIPT — a warm start's (pod/forkserver.py execs it
 * once the job's process has ended): `sh -c JOB_END kgpu-job-end <jobDir> <exit status>`. The same
 * records, by the same code, as the wrapper's.
 */
export const JOB_END_SCRIPT = String.raw`d=$1; rc=$2
${PRELUDE}
${OOMC}
${RECORD_END}`;

/** How START_SCRIPT launches the wrapper (detached: the SSH call returns in ms). */
export const COLD_LAUNCH =
  'setsid -f sh -c "$kgpu_wrapper" kgpu-job "$kgpu_root" "$kgpu_id" "$kgpu_cwd" "$kgpu_cmd" < /dev/null > /dev/null 2>&1';

/**
 * Start: `sh -c START kgpu-start <jobsRoot> <id> <meta.json> <cwd> <command line> <WRAPPER>`, with
 * the job's environment on stdin as `export NAME='value'` lines (values are secrets: never in an
 * argument, where the pod's /proc/<pid>/cmdline and the bastion would show them).
 * Creates the job directory and an empty log (so a follower can attach at once), then detaches
 * the wrapper with `setsid -f … < /dev/null > /dev/null 2>&1` so the SSH call returns in ms.
 * Exit 3: the working directory does not exist; 4: the job id is taken; 6: bad environment input.
 */
/** START_SCRIPT with another last step: `launch` runs where COLD_LAUNCH would (it sees $kgpu_root
 *  $kgpu_id $kgpu_d $kgpu_cwd $kgpu_cmd $kgpu_wrapper and the job's environment) — a warm start
 *  tries its fork server there and falls back to COLD_LAUNCH. The script's own variables are all
 *  kgpu_*: the job's environment is exported into this shell, and a kgpu.env entry named `cwd`
 *  or `id` must reach the job as the user set it, not redirect the start (jobs.ts refuses kgpu_*
 *  names). */
export function startScript(launch: string = COLD_LAUNCH): string {
  return String.raw`kgpu_root=$1; kgpu_id=$2; kgpu_d=$1/$2; kgpu_meta=$3; kgpu_cwd=$4; kgpu_cmd=$5; kgpu_wrapper=$6
# The environment's lines, read by the shell itself (no cat: one process fewer on the run's path).
kgpu_e=; while IFS= read -r kgpu_l; do kgpu_e="$kgpu_e$kgpu_l
"; done; kgpu_e="$kgpu_e$kgpu_l"
[ -d "$kgpu_cwd" ] || { printf 'The working directory %s does not exist in the pod.\n' "$kgpu_cwd" >&2; exit 3; }
[ -d "$kgpu_root" ] || mkdir -p "$kgpu_root" || exit 5
mkdir "$kgpu_d" 2>/dev/null || { printf 'A job with the id %s already exists.\n' "$kgpu_id" >&2; exit 4; }
printf '%s\n' "$kgpu_meta" > "$kgpu_d/.meta.tmp" && mv -f "$kgpu_d/.meta.tmp" "$kgpu_d/meta.json" &&
printf '%s\n' "$kgpu_cmd" > "$kgpu_d/cmd" && printf '%s\n' "$kgpu_cwd" > "$kgpu_d/cwd" && : > "$kgpu_d/log" || exit 5
eval "$kgpu_e" || { echo 'The job environment could not be read.' >&2; exit 6; }
unset kgpu_e kgpu_l
${launch}
`;
}

export const START_SCRIPT = startScript();

/** List: `sh -c LIST kgpu-list <jobsRoot>` → one JSON line per job (see PRELUDE emit). */
export const LIST_SCRIPT = String.raw`cd "$1" 2>/dev/null || exit 0
${PRELUDE}
for j in *; do
  case $j in *[!A-Za-z0-9._-]*|'*') continue;; esac
  [ -d "$j" ] || continue
  id=$j; d=$PWD/$j; emit
done
`;

/** Status of one job: `sh -c STATUS kgpu-status <jobsRoot> <id>`; exit 3 if there is no such job. */
export const STATUS_SCRIPT = String.raw`id=$2; d=$1/$2
${PRELUDE}
[ -d "$d" ] || exit 3
emit
`;

/**
 * Stop: `sh -c STOP kgpu-stop <jobsRoot> <id> <graceMs>`. SIGTERM to the job's process group; once the
 * group is empty (or after the grace period) SIGKILL whatever is left; wait for the wrapper's end
 * marker and print the status line. Exit 3 if there is no such job.
 */
export const STOP_SCRIPT = String.raw`id=$2; d=$1/$2; g=$3
${PRELUDE}
[ -d "$d" ] || exit 3
# Any live (non-zombie) process left in the job's process group? Zombies count as gone: a pod's
# init may be slow to reap, or never reap, orphans.
galive() {
  if [ -r /proc/self/stat ]; then
    sed -n 's/^.*) \(.\) [0-9]* \([0-9]*\) .*/\1 \2/p' /proc/[0-9]*/stat 2>/dev/null | grep -q "^[^Z] $pg$"
  else kill -0 -- "-$pg" 2>/dev/null; fi
}
if ! ended; then
  i=0; while [ ! -s "$d/pgid" ] && ! ended && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
  pg=$(r "$d/pgid")
  if [ -n "$pg" ]; then
    w stop_requested "$(now)"
    kill -s TERM -- "-$pg" 2>/dev/null
    n=$((g / 20)); i=0; while galive && [ $i -lt $n ]; do sleep 0.02; i=$((i + 1)); done
    if galive; then kill -s KILL -- "-$pg" 2>/dev/null; fi
    i=0; while ! ended && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
  fi
fi
emit
`;

/**
 * Follow: `sh -c FOLLOW kgpu-follow <jobsRoot> <id> <byteOffset>`. Waits (≤ 30 s) for the job to exist,
 * streams the log from the byte offset until the job's end marker is written (or its wrapper is
 * gone) and the log is drained (GNU `tail --pid` does a final read after the pid dies), then prints the status line on stderr
 * prefixed with "KGPU-JOB ". Exit 3 if the job never appeared.
 */
export const FOLLOW_SCRIPT = String.raw`id=$2; d=$1/$2; off=$3
${PRELUDE}
if [ -f "$d/log" ] && ended; then
  tail -c "+$((off + 1))" -- "$d/log" 2>/dev/null
else
  # A follow usually starts before its job (a run opens it first): tail -F waits for the log
  # itself (a stat per 10 ms in one process) and streams it from its first byte the moment the
  # start command creates it — no process per poll, which would share the pod's CPU with that
  # start. The child below only decides when tail stops: it exits after 30 s without a log (3),
  # once the end marker is there, or when the wrapper is gone without writing one. tail --pid
  # watches it (a child of ours, reaped at once) rather than the wrapper: an orphaned wrapper can
  # linger as a zombie when the pod's init is slow to reap.
  (
    i=0; while [ ! -f "$d/log" ]; do [ $i -ge 300 ] && exit 3; sleep 0.1; i=$((i + 1)); done
    i=0; while [ ! -s "$d/wpid" ] && ! ended && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    wp=$(r "$d/wpid"); [ -n "$wp" ] || exit 0
    # Poll the end marker every 50 ms for 2 s, then every 0.5 s; the wrapper's liveness every 10th.
    i=0; while ! ended; do
      if [ $((i % 10)) -eq 9 ]; then alive "$wp" || break; fi
      if [ $i -lt 40 ]; then sleep 0.05; else sleep 0.5; fi; i=$((i + 1))
    done
  ) & k=$!
  tail -c "+$((off + 1))" -s 0.01 --pid="$k" -F -- "$d/log" 2>/dev/null
  wait "$k"
  if [ $? -eq 3 ] && [ ! -f "$d/log" ]; then printf 'No job at %s.\n' "$d" >&2; exit 3; fi
fi
printf 'KGPU-JOB ' >&2; emit >&2
`;
