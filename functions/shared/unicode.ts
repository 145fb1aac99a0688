// A JSON string can carry a lone UTF-16 surrogate (`"\ud800"`), which is not Unicode text: PostgreSQL would store
// it as U+FFFD (two different ids would become one) and encodeURIComponent throws on it. So input is checked once,
// where it enters, and such a string is refused there.

export interface MalformedString {
  /** Where it is, named as validation errors name fields (`body.labels.0`). */
  path: string;
  message: string;
}

const MESSAGE = 'must be well-formed Unicode (no lone surrogates)';

/** Every string in `value` (a parsed JSON value), and every object key, that is not well-formed Unicode. */
export function malformedStrings(value: unknown, path: string): MalformedString[] {
  if (typeof value === 'string') return value.isWellFormed() ? [] : [{ path, message: MESSAGE }];
  if (Array.isArray(value)) return value.flatMap((item, index) => malformedStrings(item, `${path}.${index}`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) => {
    const at = `${path}.${key.toWellFormed()}`;
    return [...(key.isWellFormed() ? [] : [{ path: at, message: `its name ${MESSAGE}` }]), ...malformedStrings(item, at)];
  });
}

// C0 controls (NUL included), DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** An identifier from outside (a token's claim): well-formed Unicode without control characters. */
export const isCleanText = (value: string): boolean => value.isWellFormed() && !CONTROL.test(value);
