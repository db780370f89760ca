// util/: small blocks every layer uses — an event emitter, change coalescing, temp names, shell quoting, number grouping, poll timers, delay/eachLimited, cancellation, the errors' one base (kgpu-error), hashing.
// The folder's public face: import from here outside the folder (the editor imports single files where a
// static import would load a heavy dependency at activation — see src/lazy/).
export * from './async';
export * from './cancelled';
export * from './change-coalescer';
export * from './emitter';
export * from './format-number';
export * from './hash';
export * from './kgpu-error';
export * from './poll-schedule';
export * from './shell-quote';
export * from './temp-name';
