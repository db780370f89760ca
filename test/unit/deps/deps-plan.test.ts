/**
 * Which dependency files a run's project has and the environment they name (src/kgpu/deps/plan.ts),
 * the package a ModuleNotFoundError names, and requirements.txt with a package appended.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  depsPlan,
  MAX_INCLUDED_FILES,
  missingModule,
  missingModuleFix,
  referencedFiles,
  venvName,
  withRequirement,
} from '../../../src/kgpu/deps';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-deps-plan-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name);
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

test('requirements.txt: an environment per project and file hash, beside the jobs; same bytes, same one; other bytes or interpreter, another', () => {
  const dir = folder('My Project', { 'requirements.txt': 'tinyplot\n', 'train.py': '' });
  const p = depsPlan({ folder: dir, remoteDir: '/workspace/My Project', script: 'train.py', python: 'python' });
  assert.ok(p);
  assert.deepEqual(p.files, ['requirements.txt']);
  assert.equal(p.projectDir, '/workspace/My Project');
  assert.match(p.venvDir, /^\/workspace\/\.kgpu\/venvs\/My_Project-[0-9a-f]{16}$/);
  assert.equal(p.python, `${p.venvDir}/bin/python`);
  assert.equal(p.basePython, 'python');
  assert.deepEqual(depsPlan({ folder: dir, remoteDir: '/workspace/My Project', script: 'train.py', python: 'python' }), p);
  assert.notEqual(depsPlan({ folder: dir, remoteDir: '/workspace/My Project', script: 'train.py', python: 'python3.11' })?.hash, p.hash);
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'tinyplot==0.1\n');
  assert.notEqual(depsPlan({ folder: dir, remoteDir: '/workspace/My Project', script: 'train.py', python: 'python' })?.hash, p.hash);
  assert.equal(
    depsPlan({ folder: dir, remoteDir: '/srv/x/My Project', python: 'python', venvsRoot: '/opt/v' })?.venvDir.startsWith(
      '/opt/v/My_Project-',
    ),
    true,
  );
});

test('the nearest folder with dependency files, from the script up to the synced folder; none: no environment', () => {
  const dir = folder('sample', { 'train.py': '', 'with-deps/requirements.txt': 'tinyplot\n', 'with-deps/plot.py': '', 'other/x.py': '' });
  const sub = depsPlan({ folder: dir, remoteDir: '/workspace/sample', script: 'with-deps/plot.py', python: 'python' });
  assert.equal(sub?.projectDir, '/workspace/sample/with-deps');
  assert.equal(sub?.localDir, path.join(dir, 'with-deps'));
  assert.match(sub?.venvDir ?? '', /\/with-deps-[0-9a-f]{16}$/);
  assert.equal(depsPlan({ folder: dir, remoteDir: '/workspace/sample', script: 'train.py', python: 'python' }), undefined);
  assert.equal(depsPlan({ folder: dir, remoteDir: '/workspace/sample', script: 'other/x.py', python: 'python' }), undefined);
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'numpy\n');
  assert.equal(
    depsPlan({ folder: dir, remoteDir: '/workspace/sample', script: 'other/x.py', python: 'python' })?.projectDir,
    '/workspace/sample',
  );
});

test('pyproject.toml counts only with [project] dependencies; environment.yml counts; all found are hashed in order', () => {
  const dir = folder('pp', { 'pyproject.toml': '[tool.black]\nline-length = 100\n' });
  assert.equal(depsPlan({ folder: dir, remoteDir: '/workspace/pp', python: 'python' }), undefined);
  fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[project]\nname = "x"\ndependencies = [\n  "tinyplot",\n]\n');
  assert.deepEqual(depsPlan({ folder: dir, remoteDir: '/workspace/pp', python: 'python' })?.files, ['pyproject.toml']);
  fs.writeFileSync(path.join(dir, 'environment.yml'), 'dependencies:\n  - pip:\n    - tinyplot\n');
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'tinyplot\n');
  assert.deepEqual(depsPlan({ folder: dir, remoteDir: '/workspace/pp', python: 'python' })?.files, [
    'requirements.txt',
    'pyproject.toml',
    'environment.yml',
  ]);
});

test('no environment for kgpu.python as a command (it manages its own), a symlinked requirements.txt (never followed) or a huge one', () => {
  const dir = folder('cmd', { 'requirements.txt': 'tinyplot\n' });
  assert.equal(depsPlan({ folder: dir, remoteDir: '/workspace/cmd', python: 'uv run python' }), undefined);
  const linked = folder('linked', { 'elsewhere.txt': 'tinyplot\n' });
  fs.symlinkSync(path.join(linked, 'elsewhere.txt'), path.join(linked, 'requirements.txt'));
  assert.equal(depsPlan({ folder: linked, remoteDir: '/workspace/linked', python: 'python' }), undefined);
  const big = folder('big', { 'requirements.txt': 'x\n'.repeat(600_000) });
  assert.equal(depsPlan({ folder: big, remoteDir: '/workspace/big', python: 'python' }), undefined);
  assert.equal(venvName('..'), 'project');
  assert.equal(venvName('-rf x'), 'rf_x');
});

test('-r / -c lines as pip reads them: short and long forms, = or space, comments, continuations; URLs and ${VARS} left out', () => {
  assert.deepEqual(
    referencedFiles(
      '-r base.txt\n-rdev.txt\n-r=x.txt\n--requirement other.txt\n--requirement=o2.txt\n-c c.txt # pins\n--constraint  "q.txt"\n# -r no.txt\nnumpy # -r no2.txt\n-r \\\nwrapped.txt\n-r https://x/y.txt\n-r ${HOME}/z.txt\n-e .\n',
    ),
    ['base.txt', 'dev.txt', 'x.txt', 'other.txt', 'o2.txt', 'c.txt', 'q.txt', 'wrapped.txt'],
  );
});

test('files pulled in with -r / -c (nested, relative to the file that names them) are hashed; never one outside the synced folder; at most MAX_INCLUDED_FILES', () => {
  const dir = folder('inc', {
    'requirements.txt': '-r reqs/base.txt\n-r ../outside.txt\n-r /etc/hostname\n-c linked/pins.txt\n',
    'reqs/base.txt': '-c pins.txt\n-r ../requirements.txt\nkgpu-demo-utils\n',
    'reqs/pins.txt': 'kgpu-demo-utils==1.0.0\n',
    'main.py': '',
  });
  fs.writeFileSync(path.join(tmp, 'outside.txt'), 'a\n');
  const away = folder('away', { 'pins.txt': 'x==1\n' });
  fs.symlinkSync(away, path.join(dir, 'linked'));
  const plan = () => depsPlan({ folder: dir, remoteDir: '/workspace/inc', script: 'main.py', python: 'python' });
  const p = plan();
  assert.deepEqual(p?.included, ['reqs/base.txt', 'reqs/pins.txt']);
  const h = p?.hash;
  fs.writeFileSync(path.join(dir, 'reqs/pins.txt'), 'kgpu-demo-utils==1.1.0\n');
  assert.notEqual(plan()?.hash, h, 'a nested -c file changed');
  const h2 = plan()?.hash;
  fs.writeFileSync(path.join(tmp, 'outside.txt'), 'b\n');
  fs.writeFileSync(path.join(away, 'pins.txt'), 'x==2\n');
  assert.equal(plan()?.hash, h2, 'files outside the folder (a path or a symlinked folder out of it) are never read');

  const many: Record<string, string> = { 'requirements.txt': '-r r0.txt\n' };
  for (let i = 0; i < MAX_INCLUDED_FILES + 10; i++) many[`r${i}.txt`] = `-r r${i + 1}.txt\n`;
  assert.equal(
    depsPlan({ folder: folder('many', many), remoteDir: '/workspace/many', python: 'python' })?.included.length,
    MAX_INCLUDED_FILES,
  );
});

test("ModuleNotFoundError: the module the traceback's last line names, and the package that provides it", () => {
  const tb =
    'Traceback (most recent call last):\n  File "/workspace/p/plot.py", line 3, in <module>\n    import tinyplot\nModuleNotFoundError: No module named \'tinyplot\'\n';
  assert.deepEqual(missingModule(tb), { module: 'tinyplot', package: 'tinyplot' });
  assert.deepEqual(missingModule("ModuleNotFoundError: No module named 'sklearn.linear_model'\r\n"), {
    module: 'sklearn.linear_model',
    package: 'scikit-learn',
  });
  assert.deepEqual(missingModule("ModuleNotFoundError: No module named 'cv2'"), { module: 'cv2', package: 'opencv-python' });
  assert.equal(missingModule("ModuleNotFoundError: No module named 'x'\nbut it was handled\n"), undefined, 'not how the job died');
  assert.equal(missingModule("ModuleNotFoundError: No module named 'x; rm -rf /'"), undefined);
  assert.equal(missingModule('ValueError: nope'), undefined);
});

test('the ModuleNotFoundError offer: a local project installs into its environment; a pod file (kgpu://) with the interpreter it ran with, its requirements.txt in the pod', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-fix-'));
  fs.writeFileSync(path.join(folder, 'requirements.txt'), 'numpy\n');
  fs.writeFileSync(path.join(folder, 'plot.py'), 'import tinyplot\n');
  const plan = depsPlan({
    folder,
    remoteDir: '/workspace/proj',
    script: 'plot.py',
    python: 'python',
    venvsRoot: '/workspace/.kgpu/venvs',
  })!;
  const local = { kind: 'local' as const, folder };
  assert.deepEqual(missingModuleFix({ deps: plan, target: local, python: plan.python, cwd: '/workspace/proj', depsOff: false }), {
    install: { kind: 'env', plan },
    requirements: { where: 'local', path: path.join(folder, 'requirements.txt') },
  });
  // A local project without dependency files: only "add to requirements.txt and run again" (which makes the environment).
  assert.deepEqual(missingModuleFix({ target: local, python: 'python', cwd: '/workspace/proj', depsOff: false }), {
    requirements: { where: 'local', path: path.join(folder, 'requirements.txt') },
  });
  // kgpu.installDependencies off: the job's own python, in its folder.
  assert.deepEqual(missingModuleFix({ target: local, python: 'python', cwd: '/workspace/proj', depsOff: true }), {
    install: { kind: 'python', python: 'python', cwd: '/workspace/proj' },
    requirements: { where: 'local', path: path.join(folder, 'requirements.txt') },
  });
  // A file that lives only in the pod: the interpreter it ran with (its project's environment, or
  // kgpu.python) and the requirements.txt of its project folder in the pod.
  const venvPython = '/workspace/.kgpu/venvs/pod-only-0123456789abcdef/bin/python';
  assert.deepEqual(
    missingModuleFix({
      target: { kind: 'pod', path: '/workspace/pod-only/src/plot.py' },
      python: venvPython,
      cwd: '/workspace/pod-only/src',
      depsOff: false,
    }),
    {
      install: { kind: 'python', python: venvPython, cwd: '/workspace/pod-only/src' },
      requirements: { where: 'pod', path: '/workspace/pod-only/requirements.txt' },
    },
  );
  assert.deepEqual(
    missingModuleFix({ target: { kind: 'pod', path: '/workspace/plot.py' }, python: 'python', cwd: '/workspace', depsOff: true }),
    {
      install: { kind: 'python', python: 'python', cwd: '/workspace' },
      requirements: { where: 'pod', path: '/workspace/requirements.txt' },
    },
  );
  // A single local file outside every workspace folder, its job unknown: nothing to offer.
  assert.deepEqual(missingModuleFix({ target: { kind: 'local', folder, onlyThisFile: true }, depsOff: false }), {});
  fs.rmSync(folder, { recursive: true, force: true });
});

test('requirements.txt with a package appended, once', () => {
  assert.equal(withRequirement('', 'tinyplot'), 'tinyplot\n');
  assert.equal(withRequirement('numpy', 'tinyplot'), 'numpy\ntinyplot\n');
  assert.equal(withRequirement('# deps\nnumpy\n', 'tinyplot'), '# deps\nnumpy\ntinyplot\n');
  assert.equal(withRequirement('Kgpu_Demo.Utils>=1.0\n', 'kgpu-demo-utils'), 'Kgpu_Demo.Utils>=1.0\n');
  assert.equal(withRequirement('tinyplot==0.1 ; python_version>"3"\n', 'tinyplot'), 'tinyplot==0.1 ; python_version>"3"\n');
});

test('kgpu.installDependencies: machine-scoped (a workspace cannot turn installs on or off), auto or off, auto by default', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, { scope?: string; enum?: string[]; default?: string }> } };
  };
  const s = pkg.contributes.configuration.properties['kgpu.installDependencies'];
  assert.deepEqual([s?.scope, s?.enum, s?.default], ['machine', ['auto', 'off'], 'auto']);
});
