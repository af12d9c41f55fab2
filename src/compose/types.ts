/** What `vessel compose convert` produces from one compose file. */

/** A compose key vessel cannot express: left out (a warning), or fatal under --strict. */
export interface Finding {
  /** `services.web.privileged`, `networks.front.ipam`. */
  path: string;
  /** `FILE:LINE` of the key. */
  where: string;
  reason: string;
}

/** `vessel build` for a service with `build:` (a Vesselfile uses Dockerfile syntax). */
export interface BuildStep {
  image: string;
  context: string;
  dockerfile: string;
  args: Record<string, string>;
}

export interface ConvertedService {
  /** The compose service name. */
  service: string;
  /** The container's (and spec file's) name: container_name, or PROJECT-SERVICE. */
  name: string;
  /** The INI spec. */
  text: string;
  build?: BuildStep;
  /** Named volumes it mounts (vessel volume names). */
  volumes: string[];
  /** The vessel network it joins, if any. */
  network?: string;
}

export interface ComposeConversion {
  /** The compose file, absolute. */
  file: string;
  project: string;
  services: ConvertedService[];
  /** What vessel cannot express, in file order. */
  unsupported: Finding[];
  /** Approximations worth a word (stop_grace_period rounded up to whole seconds, unset variables). */
  notes: string[];
}
