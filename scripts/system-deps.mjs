// Makes sure the Debian tools the simulator and the tests rely on are present: OpenSSH's client
// (ssh, scp, sftp), its sftp-server, rsync, util-linux (unshare/nsenter/setsid), tmux, and the
// Python stack of the simulated pods' default image (kgpu-pytorch:latest: PyTorch CPU, scikit-learn,
// pandas, …, pip and venv — what Debian 12 has of what the contract lists; the README says what is
// missing).
// As root it installs what is missing with one apt-get call; otherwise it prints the one command
// to run and fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const NEEDED = [
  { pkg: 'openssh-client', probe: '/usr/bin/ssh' },
  { pkg: 'openssh-sftp-server', probe: '/usr/lib/openssh/sftp-server' },
  { pkg: 'rsync', probe: '/usr/bin/rsync' },
  { pkg: 'util-linux', probe: '/usr/bin/unshare' },
  { pkg: 'inotify-tools', probe: '/usr/bin/inotifywait' },
  { pkg: 'procps', probe: '/usr/bin/pkill' },
  { pkg: 'unzip', probe: '/usr/bin/unzip' },
  { pkg: 'curl', probe: '/usr/bin/curl' },
  { pkg: 'jq', probe: '/usr/bin/jq' },
  // The simulated pods' default image: a real python3 (pods.ts, pty-helper.py) and tmux.
  { pkg: 'python3', probe: '/usr/bin/python3' },
  { pkg: 'tmux', probe: '/usr/bin/tmux' },
  { pkg: 'zstd', probe: '/usr/bin/zstd' },
  // The default image's Python packages, for Debian's /usr/bin/python3 (what `python` is in a pod).
  ...[
    ['python3-torch', 'torch'],
    ['python3-numpy', 'numpy'],
    ['python3-scipy', 'scipy'],
    ['python3-sklearn', 'sklearn'],
    ['python3-pandas', 'pandas'],
    ['python3-matplotlib', 'matplotlib'],
    ['python3-seaborn', 'seaborn'],
    ['python3-tqdm', 'tqdm'],
    ['python3-ipykernel', 'ipykernel'],
    ['python3-jupyter-client', 'jupyter_client'],
    ['python3-zmq', 'zmq'],
    ['python3-debugpy', 'debugpy'],
    // pip, and venv with its bundled pip (the project's dependencies go into a venv per project).
    ['python3-pip', 'pip'],
  ].map(([pkg, mod]) => ({ pkg, probe: `/usr/lib/python3/dist-packages/${mod}/__init__.py` })),
  // Every Debian package ships its copyright file (kept even where docs are excluded).
  { pkg: 'python3-venv', probe: '/usr/share/doc/python3-venv/copyright' },
];

export function ensureSystemDeps(extra = []) {
  const missing = [...NEEDED, ...extra].filter((d) => !existsSync(d.probe)).map((d) => d.pkg);
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    console.error(`kgpu: these Debian packages are needed: ${missing.join(', ')}.\nRun: sudo sh -c '${cmd}'`);
    process.exit(1);
  }
  console.log(`kgpu: installing ${missing.join(', ')} with apt-get…`);
  const r = spawnSync('sh', ['-c', cmd], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) {
    console.error(`kgpu: apt-get failed (exit ${r.status}). Run it yourself: ${cmd}`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureSystemDeps();
  execFileSync('true');
}
