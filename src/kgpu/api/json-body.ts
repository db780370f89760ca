/**
 * The one reading of a JSON answer's text (the REST client's bodies, the object store's error
 * answers): an object, or undefined when it is not JSON or not an object.
 */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `error` field of a JSON answer, if it is one. */
export function jsonErrorField(text: string): unknown {
  return parseJsonObject(text)?.error;
}
