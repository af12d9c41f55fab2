export { linuxDriver } from './driver.js';
export { cgroupLayout } from './cgroup.js';
export { effectiveCapabilities, DEFAULT_CAPABILITIES } from './capabilities.js';
export { signalNumber, signalName } from '../signals.js';
