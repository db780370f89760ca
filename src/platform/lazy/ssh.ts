/**
 * The SSH layer, loaded on first use: src/kgpu/ssh/ssh-connection.ts and ssh2 itself (≈ 270 KB with
 * its crypto dependencies, its own file dist/vendor-ssh2.js — see esbuild.mjs). Nothing else in
 * src/ may import ssh-connection.ts's or ssh2's values (`import type` only): one static import
 * would load ssh2 when dist/extension.js is required.
 */
import type { ParsedKey } from 'ssh2';
import type { PodConnector, PodConnectorOptions } from '../../kgpu/ssh/ssh-connection';

type SshConnectionModule = typeof import('../../kgpu/ssh/ssh-connection');
type HostKeyProbeModule = typeof import('../../kgpu/ssh/host-key-probe');
type Ssh2Module = typeof import('ssh2');

let connection: SshConnectionModule | undefined;
let probe: HostKeyProbeModule | undefined;
let ssh2: Ssh2Module | undefined;

/** A new PodConnector; the first call loads the SSH layer (and ssh2). */
export function createPodConnector(options: PodConnectorOptions): PodConnector {
  // esbuild bundles this require into dist/extension.js as a lazily initialised module.
  connection ??= require('../../kgpu/ssh/ssh-connection') as SshConnectionModule;
  return new connection.PodConnector(options);
}

/** ssh2's `utils.parseKey`: the parsed key, or an Error (e.g. a missing or wrong passphrase). */
export function parseSshKey(privateKey: string, passphrase?: string): ParsedKey | Error {
  // esbuild maps 'ssh2' to dist/vendor-ssh2.js (see esbuild.mjs).
  ssh2 ??= require('ssh2') as Ssh2Module;
  return ssh2.utils.parseKey(privateKey, passphrase);
}

/** The host key fingerprint the bastion presents now, read without authenticating. */
export function probeHostKey(host: string, port: number): Promise<string> {
  probe ??= require('../../kgpu/ssh/host-key-probe') as HostKeyProbeModule;
  return probe.probeHostKey(host, port);
}
