/**
 * One pod behind the simulator's bastion, for the SSH/SFTP tests: a throwaway ed25519 key pinned
 * to it through a tiny BastionDirectory, and a PodConnector to reach it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { utils } from 'ssh2';
import { mintKeyPair } from '../../../sim/ssh-keys';
import { startBastion } from '../../../sim/bastion';
import { createPodRuntime } from '../../../sim/pods';
import type { Bastion, BastionDirectory, PodHandle, PodReach, PodRuntime } from '../../../sim/contracts';
import { sshFingerprint, MemoryHostKeyStore, type HostKeyStore } from '../../../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';

export interface PodFixture {
  bastion: Bastion;
  handle: PodHandle;
  podId: string;
  /** The pod's /workspace as seen from this machine. */
  hostDir: string;
  privateKey: string;
  fingerprint: string;
  hostKeys: HostKeyStore;
  hostKeyPath: string;
  directory: BastionDirectory & { pins: Map<string, { podId: string; handle: PodHandle }> };
  connector(options?: { hostKeys?: HostKeyStore; privateKey?: string }): PodConnector;
  stop(): Promise<void>;
}

/** An ed25519 key pair ssh2 can parse. ssh2 1.17's generateKeyPairSync('ed25519') emits a private
 *  key its own parser rejects ("Malformed OpenSSH private key") about 4 times in 1 000, so check
 *  and regenerate. */
export function parseableKeyPair(): { private: string; public: string } {
  const k = mintKeyPair('kgpu-test');
  return { private: k.privateKey, public: k.publicKey };
}

/** A bastion host key file that ssh2 can load (see parseableKeyPair). */
export function writeHostKey(file: string): void {
  fs.writeFileSync(file, parseableKeyPair().private, { mode: 0o600 });
}

export function throwawayKey(): { privateKey: string; fingerprint: string } {
  const k = parseableKeyPair();
  const parsed = utils.parseKey(k.public);
  if (parsed instanceof Error) throw parsed;
  return { privateKey: k.private, fingerprint: sshFingerprint(parsed.getPublicSSH()) };
}

/** `extra`: more of the pod's environment, and what it may reach of this machine (e.g. the
 *  simulator's package index: deps-fixture.ts). */
export async function startPodFixture(extra: { env?: Record<string, string>; reach?: PodReach } = {}): Promise<PodFixture> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-ssh-test-'));
  const runtime: PodRuntime = createPodRuntime({ stateDir: path.join(stateDir, 'pods') });
  const podId = `gpu-rent-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const handle = await runtime.create({
    podId,
    gpuModel: 'rtx4090',
    gpuCount: 1,
    env: {
      ...extra.env,
      KGPU_RENT_ID: podId,
      KGPU_GPU_ID: podId,
      NVIDIA_VISIBLE_DEVICES: 'void',
      KGPU_API_TOKEN: 'kgpu_pod_test.sig',
      KGPU_API_BASE: 'http://127.0.0.1:1/v1',
    },
    diskLimitBytes: 10 * 1024 ** 3,
    ...(extra.reach ? { reach: extra.reach } : {}),
  });
  const key = throwawayKey();
  const pins = new Map([[key.fingerprint, { podId, handle }]]);
  const directory = {
    pins,
    podForFingerprint: (fp: string) => pins.get(fp),
    noteSshActivity: () => undefined,
  };
  const hostKeyPath = path.join(stateDir, 'bastion_host_key');
  writeHostKey(hostKeyPath);
  const bastion = await startBastion({ directory, hostKeyPath });
  const hostKeys = new MemoryHostKeyStore();
  const connectors: PodConnector[] = [];
  return {
    bastion,
    handle,
    podId,
    hostDir: handle.workspaceDir,
    privateKey: key.privateKey,
    fingerprint: key.fingerprint,
    hostKeys,
    hostKeyPath,
    directory,
    connector(options = {}) {
      const c = new PodConnector({
        host: bastion.host,
        port: bastion.port,
        privateKey: options.privateKey ?? key.privateKey,
        hostKeys: options.hostKeys ?? hostKeys,
        readyTimeoutMs: 10_000,
      });
      connectors.push(c);
      return c;
    },
    async stop() {
      for (const c of connectors) c.dispose();
      await bastion.stop();
      await runtime.shutdown();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
