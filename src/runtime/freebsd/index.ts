/** The FreeBSD runtime: what other folders may use. */
export { FreeBSDDriver, type FreeBSDDriverOptions, signalName } from './driver.js';
export { renderStart, type StartPlan } from './render.js';
export { epairNames, bridgeName, jailName, rdrAnchor, natAnchor, devfsRulesetNumber } from './names.js';
export { pfConfLines, renderNat, renderRdr } from './pf.js';
export { bridgeSteps, interfaceExists, removeEpair, removeNetworkPlumbing } from './vnet.js';
export { runSteps, describeSteps, type Step } from './steps.js';
export { configFromSpec, type ConfigFromSpecOptions } from './config-from-spec.js';

import { FreeBSDDriver } from './driver.js';
/** The driver `runtime/driverFor('freebsd')` hands out. */
export const freebsdDriver = new FreeBSDDriver();
