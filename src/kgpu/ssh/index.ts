// ssh/: the pod over the bastion — PodSession (one owner per pod), connections and spares, exec, host keys, SFTP over exec, pod commands, the interactive shell, key passphrases, the reconnect policy.
// The folder's public face: import from here outside the folder (the editor imports single files where a
// static import would load a heavy dependency at activation — see src/platform/lazy/).
export * from './host-key-probe';
export * from './host-keys';
export * from './passphrase-gate';
export * from './pod-commands';
export * from './pod-shell';
export * from './sftp-io';
export * from './sftp-over-exec';
export * from './ssh-command';
export * from './ssh-connection';
export * from './ssh-errors';
export * from './ssh-exec';
export * from './temp-key-files';
export * from './reconnect-policy';
export * from './pod-session';
