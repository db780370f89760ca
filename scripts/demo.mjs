// `npm run demo`: build, start the simulator, open the extension against it in a real VS Code
// (code-server + the built extension). Implemented by test/e2e/demo.mjs once it lands.
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
const root = new URL('..', import.meta.url).pathname;
const impl = `${root}test/e2e/demo.mjs`;
if (!existsSync(impl)) {
  console.error('kgpu demo: not available in this build yet — it will build the extension, start the kgpu simulator and open code-server on it.');
  process.exit(1);
}
const child = spawn(process.execPath, [impl, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 1));
