/**
 * net/: named networks, address management, port publishing (DESIGN.md §2). What other folders
 * may use; everything else in here is private to net/.
 */
export { prepareNetwork, renameLease, planNetwork, planPlumbing, releaseNetwork, withdrawPublished, findNetworkLeftovers, listLeases } from './attach.js';
export type { NetAttachment } from './attach.js';
export { createNetwork, splitSubnets, removeNetwork, listNetworkInfo, inspectNetwork, reloadNetworks, type CreateOptions } from './network.js';
export type { NetworkInfo, NetworkRecord, Lease } from './types.js';
export { formatPublish } from './publish.js';
export { switchPublished, type SwitchOptions } from './switch.js';
export { publishedPorts, portLines, portsSummary, type PublishedPorts } from './ports.js';
export { bridgeName, vethNames, nftTableName, checkNetworkName } from './names.js';
export { setNetBackend } from './backend.js';
export type { NetBackend, PlumbingPlan } from './backend.js';
