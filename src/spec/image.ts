import { invalid, show } from './fail.js';

/**
 * An image reference `[REGISTRY[:PORT]/]PATH[:TAG][@DIGEST]`. The tag defaults to `latest` and is
 * written out, so two specs naming the same image compare equal after normalization.
 */
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\/:-]*(@[a-z0-9]+:[A-Fa-f0-9]{32,})?$/;

export function normalizeImage(text: string): string {
  const t = text.trim();
  if (!IMAGE_RE.test(t)) invalid(`${show(text)} is not an image reference (use NAME[:TAG], e.g. busybox:latest)`);
  const at = t.indexOf('@');
  const ref = at < 0 ? t : t.slice(0, at);
  const lastSlash = ref.lastIndexOf('/');
  const dirs = ref.slice(0, Math.max(lastSlash, 0)).split('/');
  // Only the registry host may carry a ':' before the last '/', and only for a port.
  if (dirs.some((c, i) => c.includes(':') && !(i === 0 && /^[^:]+:\d+$/.test(c)))) {
    invalid(`${show(text)} is not an image reference (a ':' before the last '/' must be a registry port)`);
  }
  const tagColon = ref.indexOf(':', lastSlash + 1);
  if (tagColon >= 0) {
    const tag = ref.slice(tagColon + 1);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) invalid(`${show(text)}: ${show(tag)} is not a tag`);
    return t;
  }
  if (ref.endsWith('/') || ref.includes('//')) invalid(`${show(text)} is not an image reference`);
  // A digest pins the content; adding a tag to it would only be noise.
  return at < 0 ? `${t}:latest` : t;
}
