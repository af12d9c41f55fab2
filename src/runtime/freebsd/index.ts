/** The FreeBSD runtime: what other folders may use. */
export { FreeBSDDriver, type FreeBSDDriverOptions, killSignalArg } from './driver.js';
export { renderStart, type StartPlan } from './render.js';
export { epairNames, bridgeName, jailName, rdrAnchor, natAnchor, devfsRulesetNumber } from './names.js';
export { pfConfLines, renderNat, renderRdr, renderRdrSwitch, switchRdr, externalAddress, rdrResource, type RdrSide } from './pf.js';
export { bridgeSteps, interfaceExists, removeEpair, removeNetworkPlumbing } from './vnet.js';
export { runSteps, describeSteps, type Step } from './steps.js';

import { FreeBSDDriver } from './driver.js';
/** The driver `runtime/driverFor('freebsd')` hands out. */
export const freebsdDriver = new FreeBSDDriver();

// Host checks a start makes, for `vessel doctor`: each is an argv and a check that throws a
// VesselError with the fix (the same ones probe.ts runs before a start).
export { PF_INFO_PROBE, PF_NAT_PROBE, FORWARDING_PROBE, checkPfEnabled, checkAnchorsReferenced, checkForwarding } from './pf.js';
export { JAIL_OPTION_PROBES, checkJailOption } from './vnet.js';
export { OSRELDATE_PROBE, NULLFS_FILE_OSRELDATE } from './mount.js';
