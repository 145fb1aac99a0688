import { v5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { UUID, uuidV5 } from '../../functions/shared/uuid';

// uuidV5 is written by hand for the bundle budget (functions/shared/uuid.ts): held to the `uuid` library's v5.
const NAMESPACES = ['6ba7b810-9dad-11d1-80b4-00c04fd430c8', '5f0b8c9e-3f4a-4d1e-9b7c-2a6d8e1f0c34', 'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF', '00000000-0000-0000-0000-000000000000'];
const NAMES = ['', 'a', 'www.example.com', 'org_1\u0000user_1', 'Ünïcødé ✓ 日本語 🎉', 'x'.repeat(10_000), JSON.stringify({ scope: { key: 'k' }, fingerprint: { body: { title: 't' } } })];

describe('uuidV5', () => {
  it.each(NAMESPACES)('derives the ids uuid derives, in namespace %s', (namespace) => {
    for (const name of NAMES) {
      const ours = uuidV5(name, namespace);
      expect(ours).toBe(v5(name, namespace));
      expect(ours).toMatch(UUID);
    }
  });

  it('matches RFC 9562\'s example (www.example.com in the DNS namespace)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });
});
