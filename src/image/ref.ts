import { VesselError } from '../util/index.js';
import type { ImageRef } from './types.js';

/**
 * Image references as docker and the OCI distribution spec spell them: NAME[:TAG], where NAME is
 * lower-case path components optionally led by a registry host[:port]. The tag defaults to
 * "latest". Parsed once at the edge (CLI, spec) so the store only ever sees valid names.
 */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export const DEFAULT_TAG = 'latest';

export function parseImageRef(s: string): ImageRef {
  const text = s.trim();
  if (!text) throw new VesselError('E_USAGE', 'image reference: empty', { hint: 'write NAME[:TAG], e.g. busybox:latest' });
  // The tag is after the last colon, unless that colon belongs to a registry host:port.
  const slash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  let name = text;
  let tag = DEFAULT_TAG;
  if (colon > slash) {
    name = text.slice(0, colon);
    tag = text.slice(colon + 1);
  }
  if (!TAG.test(tag)) {
    throw new VesselError('E_USAGE', `image reference "${s}": bad tag "${tag}"`, {
      hint: 'a tag is up to 128 letters, digits, "_", "." or "-", not starting with "." or "-"',
    });
  }
  const parts = name.split('/');
  const first = parts[0] ?? '';
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const components = hasHost ? parts.slice(1) : parts;
  if ((hasHost && !HOST.test(first)) || components.length === 0 || !components.every((c) => COMPONENT.test(c)) || name.length > 255) {
    throw new VesselError('E_USAGE', `image reference "${s}": bad name "${name}"`, {
      hint: 'a name is lower-case letters, digits and separators (. _ -), in components separated by "/"',
    });
  }
  return { name, tag };
}

export function formatImageRef(ref: ImageRef): string {
  return `${ref.name}:${ref.tag}`;
}
