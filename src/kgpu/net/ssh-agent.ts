/**
 * The SSH agent to ask for a key when kgpu holds none for a pod (kgpu.sshIdentityFile empty and no
 * minted key: the rental was made elsewhere): $SSH_AUTH_SOCK (OpenSSH's ssh-agent, or the
 * Windows OpenSSH agent's pipe), else Pageant on Windows. The key never leaves the agent.
 */
export function sshAgentSocket(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  const sock = env.SSH_AUTH_SOCK?.trim();
  if (sock) return sock;
  return platform === 'win32' ? 'pageant' : undefined;
}
