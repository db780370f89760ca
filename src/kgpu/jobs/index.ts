// jobs/: detached runs in the pod — the job wrapper, start/stop/list, log following, log text, and the runner that syncs, starts and follows (job-runner.ts, with its parts: run-plan, run-launch, log-streams, job-registry, job-records; it re-exports their public names).
// The folder's public face: import from here outside the folder (the editor imports single files where a
// static import would load a heavy dependency at activation — see src/platform/lazy/).
export * from './job-log-text';
export * from './job-runner';
export * from './job-wrapper';
export * from './jobs';
export * from './log-follow';
