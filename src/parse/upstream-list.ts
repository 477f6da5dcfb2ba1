import type { NginxVariables, UpstreamAttempt } from './access-record.js';

/**
 * Splits nginx's `$upstream_*` lists into attempts. nginx writes one entry per try,
 * `", "` between tries of one upstream group and `" : "` between groups (after an
 * internal redirect: X-Accel-Redirect, error_page). `-` or empty means "no value".
 */
export function parseUpstreams(vars: NginxVariables): UpstreamAttempt[] {
  const addr = vars.upstream_addr;
  if (addr === undefined || addr === '' || addr === '-') return [];
  const addresses = splitGroups(addr);
  const statuses = splitGroups(vars.upstream_status);
  const connects = splitGroups(vars.upstream_connect_time);
  const headers = splitGroups(vars.upstream_header_time);
  const responses = splitGroups(vars.upstream_response_time);

  const attempts: UpstreamAttempt[] = [];
  for (let g = 0; g < addresses.length; g++) {
    const tries = addresses[g];
    for (let i = 0; i < tries.length; i++) {
      const address = tries[i];
      if (address === '' || address === '-') continue;
      attempts.push({
        group: g,
        address,
        status: toInt(statuses[g]?.[i]),
        connectTime: toSeconds(connects[g]?.[i]),
        headerTime: toSeconds(headers[g]?.[i]),
        responseTime: toSeconds(responses[g]?.[i]),
      });
    }
  }
  return attempts;
}

const NO_GROUPS: string[][] = [];

function splitGroups(value: string | undefined): string[][] {
  if (value === undefined || value === '') return NO_GROUPS;
  return value.split(' : ').map((group) => group.split(', '));
}

/** A non-negative number of seconds, or undefined for `-`, empty or garbage. */
export function toSeconds(value: string | undefined): number | undefined {
  if (value === undefined || value === '' || value === '-') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function toInt(value: string | undefined): number | undefined {
  if (value === undefined || value === '' || value === '-') return undefined;
  const n = Number(value);
  return Number.isInteger(n) ? n : undefined;
}
