import { createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';

/**
 * Writes `count` lines in the recommended JSON format, shaped like real traffic: mostly one
 * upstream attempt, some retries, a few SYN-retransmit connects, some with a traceparent.
 * Deterministic (seeded) so runs compare.
 */
export async function generateLog(path: string, count: number): Promise<void> {
  const out = createWriteStream(path);
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const hex = (bytes: number) => randomBytes(bytes).toString('hex');
  let msec = 1_790_000_000;
  for (let i = 0; i < count; i++) {
    msec += 0.001;
    const r = random();
    const connect = r < 0.01 ? 1.0 + random() * 0.01 : random() * 0.002;
    const response = connect + random() * 0.05;
    const retry = r > 0.97;
    const addr = retry ? '10.0.0.11:8080, 10.0.0.12:8080' : `10.0.0.${11 + (i & 1)}:8080`;
    const status = retry ? '502, 200' : '200';
    const ct = retry ? `-, ${connect.toFixed(3)}` : connect.toFixed(3);
    const ht = retry ? `-, ${(response - 0.001).toFixed(3)}` : (response - 0.001).toFixed(3);
    const rt = retry ? `0.000, ${response.toFixed(3)}` : response.toFixed(3);
    const tp = r < 0.5 ? `00-${hex(16)}-${hex(8)}-01` : '';
    const line = `{"msec":"${msec.toFixed(3)}","request_time":"${(response + 0.001).toFixed(3)}","request_id":"${hex(16)}",` +
      `"remote_addr":"192.0.2.${i & 255}","request_method":"GET","scheme":"http","host":"shop.example","server_port":"80",` +
      `"request_uri":"/api/items/${i % 1000}?page=${i % 7}","server_protocol":"HTTP/1.1","status":"200","body_bytes_sent":"${512 + (i % 4096)}",` +
      `"request_length":"180","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64) bench/1.0","upstream_addr":"${addr}",` +
      `"upstream_status":"${status}","upstream_connect_time":"${ct}","upstream_header_time":"${ht}",` +
      `"upstream_response_time":"${rt}","http_traceparent":"${tp}","http_tracestate":"","http_x_amzn_trace_id":""}\n`;
    if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}
