/**
 * Names of the hidden temp files we write beside a target (atomic saves, resumable uploads and
 * downloads, in-pod copies). File systems cap a name at 255 bytes: `.<name><suffix>` for a target
 * whose own name is near that cap would be refused ("Bad message" from sftp-server, ENAMETOOLONG
 * locally), so such a file could never be saved. The target's name is shortened (on a UTF-8
 * character boundary) to keep the temp name within the cap; the suffix stays whole, so temp names
 * are still recognised by it, and the result is deterministic (a resumable upload finds its temp).
 */
export const MAX_NAME_BYTES = 255;

/** `.<base><suffix>`, with `base` shortened so that the whole name is at most 255 bytes. */
export function tempSiblingName(base: string, suffix: string): string {
  const room = MAX_NAME_BYTES - 1 - Buffer.byteLength(suffix);
  let b = base;
  if (Buffer.byteLength(b) > room) {
    const bytes = Buffer.from(b).subarray(0, Math.max(0, room));
    // Drop a trailing partial UTF-8 sequence.
    let end = bytes.length;
    let i = end - 1;
    while (i >= 0 && (bytes[i]! & 0xc0) === 0x80) i--;
    if (i >= 0) {
      const lead = bytes[i]!;
      const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (end - i < need) end = i;
    }
    b = bytes.subarray(0, end).toString('utf8');
  }
  return `.${b}${suffix}`;
}
