// `npm run demo`: build the extension, start the kgpu simulator and open the extension against it
// in a real VS Code (code-server) — see test/e2e/demo.mjs (options: --port, --cold-start-ms,
// --credits, --check). The simulator's pods need the Debian packages system-deps installs.
import { ensureSystemDeps } from './system-deps.mjs';

ensureSystemDeps();
await import('../test/e2e/demo.mjs');
