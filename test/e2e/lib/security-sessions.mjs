// The security sessions (issue 16): the integration suite's machinery, but each session gets its
// own code-server, profile and folder, because what is tested is how the window is set up:
//   hostile-clone    a trusted folder whose .vscode/settings.json points kgpu.apiBase / sshHost /
//                    sshPort / sshIdentityFile at the attacker (test/e2e/lib/hostile-server.mjs),
//                    with $KGPU_API_TOKEN set and $KGPU_API_BASE not; the user's own settings
//                    point at the simulator;
//   restricted-mode  the same folder opened with workspace trust on: Restricted Mode; its
//                    kgpu.python is a canary, its kgpu.env a marker; the simulator in $KGPU_*.
// Each runs test/e2e/security/<name>.test.ts in the extension host (mocha, like the suite), and
// afterwards the runner checks the attacker's record itself: nothing may have reached it.
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSecuritySessions, OUT_DIR } from '../build-suite.mjs';
import { root } from './build.mjs';
import { prepareProfile, startCodeServer } from './code-server.mjs';
import { runExtensionTests } from './extension-tests.mjs';
import { startHostileServers } from './hostile-server.mjs';
import { mapStack } from './source-maps.mjs';
import { SAMPLE_PROJECT } from './workspace.mjs';

const SESSION_TIMEOUT_MS = 3 * 60_000;

/** A Python file that says how it was run (the interpreter's flags, the environment it got). */
const PROBE_PY = `import os, sys
print('dev_mode:', sys.flags.dev_mode)
print('PROJECT_FLAG:', os.environ.get('PROJECT_FLAG'))
`;

function hostileProject(dir, hostile) {
  cpSync(SAMPLE_PROJECT, dir, { recursive: true });
  writeFileSync(join(dir, 'probe.py'), PROBE_PY);
  mkdirSync(join(dir, '.vscode'), { recursive: true });
  writeFileSync(join(dir, 'attacker.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEC7H4Oo5Pq5 attacker\n');
  writeFileSync(join(dir, 'attacker'), '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n');
  writeFileSync(
    join(dir, '.vscode', 'settings.json'),
    `${JSON.stringify(
      {
        'kgpu.apiBase': hostile.apiBase,
        'kgpu.sshHost': '127.0.0.1',
        'kgpu.sshPort': hostile.sshPort,
        'kgpu.sshIdentityFile': join(dir, 'attacker'),
        // Per-project settings: honoured in a trusted folder, never in Restricted Mode. The canary
        // (the interpreter "prefix" runs code and comments out the script) must never run there.
        'kgpu.python': hostile.python,
        'kgpu.env': { PROJECT_FLAG: 'from-workspace' },
      },
      null,
      2,
    )}\n`,
  );
  return dir;
}

export async function runSecuritySessions({ paths, browser, scratch, sim, counts, log }) {
  const hostile = await startHostileServers();
  try {
    const tests = await buildSecuritySessions();
    const simEnv = sim.env;
    const sessions = [
      {
        name: 'hostile-clone',
        trust: false,
        python: 'python3 -X dev',
        user: {},
        machine: {
          'kgpu.apiBase': simEnv.KGPU_API_BASE,
          'kgpu.sshHost': simEnv.KGPU_SSH_HOST,
          'kgpu.sshPort': Number(simEnv.KGPU_SSH_PORT),
        },
        env: { KGPU_API_TOKEN: simEnv.KGPU_API_TOKEN },
      },
      {
        name: 'restricted-mode',
        trust: true,
        python: `python3 -c "import pathlib; pathlib.Path('/workspace/KGPU_E2E_CANARY').touch()" #`,
        user: { 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'never' },
        env: { ...simEnv },
      },
    ];
    for (const s of sessions) {
      if (!tests[s.name]) continue;
      const t = Date.now();
      const dir = join(scratch, `security-${s.name}`);
      const workspace = hostileProject(join(dir, 'project'), { ...hostile, python: s.python });
      const profile = prepareProfile(join(dir, 'code-server'), { 'security.workspace.trust.enabled': s.trust, ...s.user });
      // The user's machine-scoped kgpu settings: in code-server (a remote window) those are the
      // server machine's settings, <user-data-dir>/Machine/settings.json ("User (Remote)").
      mkdirSync(join(profile.userDataDir, 'Machine'), { recursive: true });
      writeFileSync(join(profile.userDataDir, 'Machine', 'settings.json'), `${JSON.stringify(s.machine ?? {}, null, 2)}\n`);
      const codeServer = await startCodeServer({ paths, profile, workspace, env: {}, workspaceTrust: s.trust, cleanEnv: true });
      const resultsFile = join(dir, 'results.json');
      let ran = false;
      log(
        `security session ${s.name}: ${s.trust ? 'workspace trust on (Restricted Mode)' : 'trusted folder'} with a hostile .vscode/settings.json`,
      );
      let run;
      try {
        run = await runExtensionTests({
          browser,
          baseUrl: codeServer.url,
          workspace,
          devPath: root,
          testsPath: tests[s.name],
          timeoutMs: SESSION_TIMEOUT_MS,
          env: {
            ...s.env,
            KGPU_E2E_RESULTS: resultsFile,
            KGPU_E2E_DEV_PATH: root,
            KGPU_E2E_HOSTILE_RECORD: hostile.recordUrl,
            KGPU_E2E_SIM_API_BASE: simEnv.KGPU_API_BASE,
            KGPU_E2E_SIM_TOKEN: simEnv.KGPU_API_TOKEN,
            KGPU_E2E_SIM_SSH_PORT: simEnv.KGPU_SSH_PORT,
          },
          onLine: (l) => console.log(mapStack(l.replace(/^\s*\[kgpu-e2e\] ?/, '  '), OUT_DIR)),
          serverLog: () => codeServer.log(),
        });
        const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : undefined;
        ran = results !== undefined;
        if (results) {
          counts.passed += results.passed;
          counts.failed += results.failed;
          counts.skipped += results.pending;
        } else {
          counts.failed++;
          console.log(
            `  ✖ the ${s.name} session reported no results (exit code ${run.exitCode})\n  --- code-server log (tail) ---\n${codeServer.logTail(30)}`,
          );
        }
      } catch (e) {
        counts.failed++;
        console.log(`  ✖ the ${s.name} session could not run: ${e.message}\n  --- code-server log (tail) ---\n${codeServer.logTail(30)}`);
      } finally {
        await run?.close().catch(() => undefined);
        await codeServer.stop();
      }
      // The runner's own look at the attacker's side, whatever the extension host reported (only
      // when the session ran: an empty record proves nothing otherwise).
      const r = hostile.record;
      if (!ran) {
        console.log(`  - ${s.name}: the hostile server's record was not checked (the session did not run)`);
      } else if (r.requests === 0 && r.sshConnections === 0) {
        counts.passed++;
        console.log(`  ✔ ${s.name}: the hostile server received nothing (0 HTTP requests, 0 SSH connections)`);
      } else {
        counts.failed++;
        console.log(
          `  ✖ ${s.name}: the hostile server received ${r.requests} HTTP request(s), ${r.withAuthorization} with an Authorization header, and ${r.sshConnections} SSH connection(s)`,
        );
      }
      log(`security session ${s.name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    await hostile.stop();
  }
}
