/** GPU telemetry through the pod agent, the idle guard and "Release when done" (issue 19). */
export * from './gpu-sample';
export * from './gpu-telemetry';
export * from './idle-guard';
export * from './release-when-done';
export * from './telemetry-demand';
export * from './pod-gpu-watch';
