/**
 * One simulator pod for the agent tests, reached through a TCP gate (test/unit/kgpu/ssh/tcp-gate.ts)
 * that counts the SSH connections the agent makes, an AgentClient factory over that gate, a
 * direct shell for checks in the pod (not counted), and a static HTTP server on the pod's
 * loopback serving files the test writes into the pod's /workspace.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient, type AgentClientOptions } from '../../../src/kgpu/agent';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { exec, execStream } from '../../../src/kgpu/ssh/ssh-exec';
import { quoteArgv } from '../../../src/kgpu/util/shell-quote';
import { startPodFixture, type PodFixture } from '../kgpu/ssh/pod-fixture';
import { startTcpGate, type TcpGate } from '../kgpu/ssh/tcp-gate';
import { parsePort, podHttpServerArgv } from './pod-http-server';

import { waitFor } from '../wait-for';

export { waitFor };

export interface AgentFixture {
  pod: PodFixture;
  gate: TcpGate;
  /** A connector through the gate (its connections are counted). */
  connector(): PodConnector;
  /** An AgentClient over a new gated connector; disposed by stop(). */
  client(options?: Partial<AgentClientOptions>): AgentClient;
  /** Dispose every client made so far and wait until their SSH connections are closed (gate.live 0). */
  quiesce(): Promise<void>;
  /** A shell line in the pod over a direct (uncounted) connection; stdout; throws on failure. */
  sh(line: string | string[]): Promise<string>;
  /** Whether a pid is alive in the pod. */
  alive(pid: number): Promise<boolean>;
  /** Write a file into the pod's /workspace; its sha256. */
  writeFile(rel: string, data: Buffer): string;
  /** Start (once) the HTTP server on the pod's loopback, serving /workspace/www; its port. */
  httpPort(): Promise<number>;
  stop(): Promise<void>;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function startAgentFixture(): Promise<AgentFixture> {
  const pod = await startPodFixture();
  const gate = await startTcpGate({ host: pod.bastion.host, port: pod.bastion.port });
  const direct = pod.connector();
  const connectors: PodConnector[] = [];
  const clients: AgentClient[] = [];
  let port: Promise<number> | undefined;
  const sh = async (line: string | string[]): Promise<string> => {
    const r = await exec(direct, typeof line === 'string' ? line : quoteArgv(line));
    if (r.exitCode !== 0) throw new Error(`pod command failed (${r.exitCode ?? r.signal}): ${String(line)}\n${r.stderr.toString()}`);
    return r.stdout.toString('utf8');
  };
  const connector = (): PodConnector => {
    const c = new PodConnector({
      host: pod.bastion.host,
      port: gate.port,
      privateKey: pod.privateKey,
      hostKeys: pod.hostKeys,
      readyTimeoutMs: 10_000,
    });
    connectors.push(c);
    return c;
  };
  return {
    pod,
    gate,
    connector,
    client(options = {}) {
      const c = connector();
      const client = new AgentClient({ exec: (cmd, o) => execStream(c, cmd, o), ...options });
      clients.push(client);
      return client;
    },
    async quiesce() {
      for (const c of clients.splice(0)) c.dispose();
      await waitFor('every agent connection to be closed', () => gate.live === 0);
    },
    sh,
    async alive(pid) {
      const r = await exec(direct, `kill -0 ${pid} 2>/dev/null`);
      return r.exitCode === 0;
    },
    writeFile(rel, data) {
      const file = path.join(pod.hostDir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
      return sha256(data);
    },
    httpPort() {
      port ??= (async () => {
        fs.mkdirSync(path.join(pod.hostDir, 'www'), { recursive: true });
        return parsePort(await sh(podHttpServerArgv('/workspace/www')));
      })();
      return port;
    },
    async stop() {
      for (const c of clients) c.dispose();
      for (const c of connectors) c.dispose();
      await gate.close();
      await pod.stop();
    },
  };
}
