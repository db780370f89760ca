import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runPodTask } from '../../../src/kgpu/tasks/pod-task';
import { startJobsPod, waitFor, type JobsPod } from '../kgpu/jobs/jobs-fixture';

let pod: JobsPod;
before(async () => {
  pod = await startJobsPod();
  await pod.sh('mkdir -p "/workspace/my proj" && printf "print(1 / 0)\\n" > "/workspace/my proj/bad.py"');
});
after(async () => pod?.stop());

function collect(): { text: () => string; write: (t: string) => void } {
  const parts: string[] = [];
  return { text: () => parts.join(''), write: (t) => void parts.push(t) };
}

test('a task runs its shell line in the pod folder; output streams as terminal text; the exit code comes back', async () => {
  const out = collect();
  const r = await runPodTask(pod.commands(), { command: 'pwd; echo "ü ✓"; echo err >&2; exit 3', defaultCwd: '/workspace/my proj' }, out);
  assert.deepEqual(r, { exitCode: 3 });
  assert.match(out.text(), /^\/workspace\/my proj\r\n/);
  assert.match(out.text(), /ü ✓\r\n/);
  assert.match(out.text(), /err\r\n/);
  assert.doesNotMatch(out.text(), /[^\r]\n/);
});

test('a Python traceback from the task keeps its pod paths (for the link provider and the problem matcher)', async () => {
  const out = collect();
  const r = await runPodTask(pod.commands(), { command: 'python3 bad.py', cwd: '/workspace/my proj' }, out);
  assert.deepEqual(r, { exitCode: 1 });
  assert.match(out.text(), /File "\/workspace\/my proj\/bad.py", line 1, in <module>\r\n/);
  assert.match(out.text(), /ZeroDivisionError: division by zero/);
});

test('a default folder that does not exist is skipped (home); an explicit one that does not exist fails clearly', async () => {
  const home = collect();
  assert.deepEqual(await runPodTask(pod.commands(), { command: 'pwd', defaultCwd: '/workspace/nope' }, home), { exitCode: 0 });
  assert.doesNotMatch(home.text(), /nope/);
  const explicit = collect();
  assert.deepEqual(await runPodTask(pod.commands(), { command: 'pwd', cwd: '/workspace/nope' }, explicit), { exitCode: 125 });
  assert.match(explicit.text(), /there is no folder \/workspace\/nope in the pod/);
});

test('cancelling a task really stops the command in the pod', async () => {
  const out = collect();
  const abort = new AbortController();
  const run = runPodTask(
    pod.commands(),
    { command: 'echo pid=$$; while true; do sleep 0.2; done' },
    { write: out.write, signal: abort.signal },
  );
  await waitFor('the task printed its pid', () => /pid=\d+/.test(out.text()));
  const pid = /pid=(\d+)/.exec(out.text())![1];
  assert.equal((await pod.sh(`kill -0 ${pid} && echo alive`)).trim(), 'alive');
  abort.abort();
  assert.deepEqual(await run, { cancelled: true });
  await waitFor(
    'the command is gone from the pod',
    async () => (await pod.sh(`kill -0 ${pid} 2>/dev/null && echo alive || echo gone`)).trim() === 'gone',
  );
});
