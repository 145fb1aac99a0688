import { createHash } from 'node:crypto';

/** The canonical form of a UUID: what gen_random_uuid() and the API produce (any case accepted). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A name-based UUID (version 5, RFC 9562): SHA-1 of the namespace's 16 bytes and the name's UTF-8, its version and
 * variant bits set. The same name in the same namespace is the same id in every environment and on every retry.
 * Written here rather than bundled from `uuid` (1.7 KB in every function that derives an id, where UpdateTask stood at
 * the 250 KB budget); test/unit/uuid.test.ts pins it to uuid's v5.
 */
export function uuidV5(name: string, namespace: string): string {
  const bytes = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
