/**
 * Undoes nginx's `escape=default` (the default for log_format): `"`, `\`, control and
 * non-ASCII bytes are written as `\xHH`. Runs of escaped bytes are decoded together so a
 * UTF-8 character split over several `\xHH` comes back whole; invalid UTF-8 becomes U+FFFD.
 * Hand-written because no library decodes nginx's escaping.
 */
const ESCAPED_RUN = /(?:\\x[0-9A-Fa-f]{2})+/g;

export function unescapeNginxDefault(value: string): string {
  if (value.indexOf('\\x') === -1) return value;
  return value.replace(ESCAPED_RUN, (run) => {
    const bytes = Buffer.allocUnsafe(run.length / 4);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 4 + 2, i * 4 + 4), 16);
    return bytes.toString('utf8');
  });
}
