// `npm run demo`: build the extension, start the kgpu simulator and open the extension against it
// in a real VS Code (code-server) — see test/e2e/demo.mjs (options: --port, --cold-start-ms,
// --credits, --check).
import '../test/e2e/demo.mjs';
