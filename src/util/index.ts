export * from './errors.js';
export * from './atomic.js';
export * from './lock.js';
export * from './host.js';
export * from './config.js';
export * from './log.js';
export * from './os.js';
