/**
 * Local packages a project's dependency files name are part of its environment's hash (issue 22):
 * `-e ./lib` by its build metadata (its code is used in place), `./lib` and `mylib @ file:./lib`
 * by all their files, a wheel named directly by its bytes — here (depsPlan) and in the pod
 * (pod/deps.py find, for a kgpu:// file) alike; in a simulator pod a changed pyproject.toml of an
 * editable local package makes a new environment, a changed module of it does not (used in place).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { depsPlan, ensurePodDeps } from '../../../src/kgpu/deps';
import { pyprojectLocalRefs, requirementLocalRefs } from '../../../src/kgpu/deps/local-refs';
import { startDepsPod, type DepsPod } from './deps-fixture';

const LIB_PYPROJECT = (version: string): string =>
  `[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "podlib"\nversion = "${version}"\n`;

function write(folder: string, files: Record<string, string>): void {
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(folder, f)), { recursive: true });
    fs.writeFileSync(path.join(folder, f), text);
  }
}

describe('local packages in the dependency hash', () => {
  it("finds pip's local references: -e / --editable paths, ./ and ../ paths, file: and name @ file: (not URLs, absolute paths or ${VARS})", () => {
    const text = [
      '-e ./lib',
      '--editable=../shared[dev]',
      '-e.',
      './vendor/pkg ; python_version >= "3.8"',
      './dist/tool-1.0-py3-none-any.whl',
      'mylib @ file:./mylib',
      'file:other#egg=other',
      '-e git+https://example.com/x.git#egg=x',
      '/abs/path',
      '-e ${HOME}/x',
      'numpy==1.26  # ./not-a-ref',
      '-r more.txt',
    ].join('\n');
    assert.deepEqual(requirementLocalRefs(text), [
      { path: './lib', editable: true },
      { path: '../shared', editable: true },
      { path: '.', editable: true },
      { path: './vendor/pkg', editable: false },
      { path: './dist/tool-1.0-py3-none-any.whl', editable: false },
      { path: './mylib', editable: false },
      { path: 'other', editable: false },
    ]);
    assert.deepEqual(
      pyprojectLocalRefs('[project]\ndependencies = [\n  "numpy",\n  "mylib @ file:./mylib",\n  \'b @ file:///abs/b\',\n]\n'),
      [{ path: './mylib', editable: false }],
    );
  });

  it('a synced project: an editable package reinstalls when its metadata changes (not its code), a plain one when any file changes', (t) => {
    const folder = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'kgpu-localrefs-'));
    t.after(() => fs.rmSync(folder, { recursive: true, force: true }));
    write(folder, {
      'requirements.txt': '-e ./lib\n',
      'lib/pyproject.toml': LIB_PYPROJECT('0.1'),
      'lib/podlib/__init__.py': 'VALUE = 1\n',
      'main.py': 'print(1)\n',
    });
    const plan = () => depsPlan({ folder, remoteDir: '/workspace/p', script: 'main.py', python: 'python' })!;
    const a = plan();
    assert.deepEqual(a.localPackages, ['-e lib/pyproject.toml']);
    fs.writeFileSync(path.join(folder, 'lib/podlib/__init__.py'), 'VALUE = 2\n');
    assert.equal(plan().hash, a.hash, 'editable: its code is used in place');
    fs.writeFileSync(path.join(folder, 'lib/pyproject.toml'), LIB_PYPROJECT('0.2'));
    const b = plan();
    assert.notEqual(b.hash, a.hash, 'editable: changed metadata reinstalls');

    fs.writeFileSync(path.join(folder, 'requirements.txt'), './lib\n');
    const c = plan();
    assert.deepEqual(c.localPackages, ['pkg lib/podlib/__init__.py', 'pkg lib/pyproject.toml']);
    fs.writeFileSync(path.join(folder, 'lib/podlib/__init__.py'), 'VALUE = 3\n');
    assert.notEqual(plan().hash, c.hash, 'a plain local package: its code is copied, a change reinstalls');
    // A path out of the synced folder is not followed.
    fs.writeFileSync(path.join(folder, 'requirements.txt'), '-e ../elsewhere\n');
    assert.deepEqual(plan().localPackages, []);
  });

  describe('in the pod (a kgpu:// file)', () => {
    let d: DepsPod;
    before(async () => {
      d = await startDepsPod();
    });
    after(async () => {
      await d?.stop();
    });

    it('hashes local packages as a synced copy does, installs the editable one, and makes a new environment when its metadata changes', async () => {
      const files = {
        'requirements.txt': '-e ./lib\n',
        'lib/pyproject.toml': LIB_PYPROJECT('0.1'),
        'lib/podlib/__init__.py': 'VALUE = 1\n',
        'main.py': 'import podlib, sys\nprint("podlib", podlib.VALUE, sys.prefix)\n',
      };
      const local = path.join(d.tmp, 'libproj');
      const inPod = path.join(d.fx.hostDir, 'libproj');
      write(local, files);
      write(inPod, files);
      const input = {
        file: '/workspace/libproj/main.py',
        root: '/workspace/libproj',
        python: 'python',
        venvsRoot: '/workspace/.kgpu/venvs',
      };
      // The pods have no public index: the editable build uses the image's setuptools.
      const env = { PIP_NO_BUILD_ISOLATION: '0' };
      const out: string[] = [];
      const a = await ensurePodDeps(d.pod, input, { env, onOutput: (l) => out.push(l) });
      const planA = depsPlan({ folder: local, remoteDir: '/workspace/libproj', script: 'main.py', python: 'python' })!;
      assert.equal(a?.venvDir, planA.venvDir, `the same bytes, the same environment\n${out.join('\n')}`);
      assert.equal(a?.state, 'installed');
      assert.match(await d.sh(`cd /workspace/libproj && ${a.python} main.py`), /^podlib 1 /);

      fs.writeFileSync(path.join(inPod, 'lib/podlib/__init__.py'), 'VALUE = 2\n');
      const b = await ensurePodDeps(d.pod, input, { env });
      assert.deepEqual([b?.state, b?.venvDir], ['reused', a.venvDir], 'a code change of an editable package: used in place');
      assert.match(await d.sh(`cd /workspace/libproj && ${b!.python} main.py`), /^podlib 2 /);

      fs.writeFileSync(path.join(inPod, 'lib/pyproject.toml'), LIB_PYPROJECT('0.2'));
      fs.writeFileSync(path.join(local, 'lib/pyproject.toml'), LIB_PYPROJECT('0.2'));
      const c = await ensurePodDeps(d.pod, input, { env });
      assert.equal(c?.state, 'installed', 'changed metadata of the local package makes a new environment');
      assert.notEqual(c?.venvDir, a.venvDir);
      assert.equal(c?.venvDir, depsPlan({ folder: local, remoteDir: '/workspace/libproj', script: 'main.py', python: 'python' })!.venvDir);
    });
  });
});
