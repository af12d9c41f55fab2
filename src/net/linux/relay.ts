import { hostFamilies, isDynamicPublish, portCount, type PortPublish } from '../../spec/index.js';
import type { PortRelay } from '../../runtime/index.js';

/**
 * The host's ::1 where br_netfilter hands bridged IPv6 to netfilter (sysctl.ts
 * bridgeNfCallsIp6tables): the answer to a connection from ::1 redirected to a container is
 * dropped by the kernel there (docs/networking.md, "IPv6 loopback"), so every mapping that covers
 * ::1 — no host address, `[::]`, or `[::1]` itself — is relayed in userland by the container's
 * monitor to the container's IPv6 address, as docker's docker-proxy does (native/linux/relay.h),
 * and the nft table leaves ::1 alone (nft.ts). An IPv4-only network publishes nothing on IPv6. A
 * host port still to be chosen has no relay yet (only `vessel plan` sees one). Pure.
 */
export function loopbackRelays(publish: readonly PortPublish[], address6: string | undefined): PortRelay[] {
  if (address6 === undefined) return [];
  const coversLoopback = (ip: string | undefined) => hostFamilies(ip).includes(6) && (ip === undefined || ip === '::' || ip === '::1');
  return publish
    .filter((p) => !isDynamicPublish(p) && coversLoopback(p.hostIp))
    .map((p) => ({ protocol: p.protocol, listen: '::1', port: p.hostPort, target: address6, targetPort: p.containerPort, count: portCount(p) }));
}
