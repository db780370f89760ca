/** Port forwarding through the pod agent (issue 19): local 127.0.0.1 listeners, the pod's listening sockets. */
export * from './listening-sockets';
export * from './port-forward';
export * from './port-watcher';
export * from './forward-set';
export * from './port-offers';
export * from './tensorboard';
