/**
 * "shop-api": a small Node HTTP service instrumented with the OpenTelemetry JS SDK, the way
 * an application team behind nginx would do it — the SDK's TracerProvider with a
 * BatchSpanProcessor, the W3C trace-context propagator, AsyncLocalStorage context, the
 * official http instrumentation (`@opentelemetry/instrumentation-http`, which reads the
 * incoming `traceparent` and makes the SERVER span) and the OTLP/HTTP (protobuf) exporter.
 * Each request also gets one INTERNAL child span (`load item`) made with the API.
 *
 * Run as a process (the e2e tests run it inside a network namespace):
 *   node test/e2e/instrumented-upstream.ts --host 127.0.0.1 --port 8081 --name shop-1 \
 *        --otlp http://10.231.0.1:4318/v1/traces [--service shop-api]
 * It prints `{"listening":"127.0.0.1:8081"}`, then one `{"request":{…}}` line per request;
 * on SIGTERM it closes the server, flushes its spans (provider.shutdown()) and exits 0.
 *
 * `startInstrumentedUpstream()` below spawns it and waits for it to listen.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { registerCleanup } from '../support/cleanup.ts';

export interface InstrumentedUpstreamOptions {
  host?: string;
  port: number;
  /** Recorded with each request and sent back as X-Upstream; also the `service.instance.id`. */
  name: string;
  /** OTLP/HTTP traces URL the SDK exports to. */
  otlpEndpoint: string;
  /** `service.name` (default shop-api). */
  serviceName?: string;
  /** Run inside this network namespace. */
  netns?: string;
}

export interface InstrumentedRequest {
  method: string;
  url: string;
  traceparent?: string;
  /** The SERVER span the instrumentation made for this request (ids as the SDK saw them). */
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

export interface InstrumentedUpstream {
  /** `host:port` as nginx logs it in $upstream_addr. */
  address: string;
  port: number;
  pid: number;
  name: string;
  requests: InstrumentedRequest[];
  /** SIGTERM: the service flushes its spans to the collector, then exits. */
  stop(): Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);

export async function startInstrumentedUpstream(options: InstrumentedUpstreamOptions): Promise<InstrumentedUpstream> {
  const host = options.host ?? '127.0.0.1';
  const args = [THIS_FILE, '--host', host, '--port', String(options.port), '--name', options.name,
    '--otlp', options.otlpEndpoint, '--service', options.serviceName ?? 'shop-api'];
  const child = options.netns !== undefined
    ? spawn('ip', ['netns', 'exec', options.netns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid ?? -1;
  let exited = false;
  const exitPromise = new Promise<void>((ok) => child.once('exit', () => { exited = true; ok(); }));
  const kill = registerCleanup(`instrumented upstream ${options.name} (pid ${pid})`, () => {
    if (!exited && pid > 0) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });
  const requests: InstrumentedRequest[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  let buffered = '';
  let address = '';
  const listening = new Promise<void>((ok, fail) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === '') continue;
        const msg = JSON.parse(line) as { listening?: string; request?: InstrumentedRequest };
        if (msg.listening !== undefined) { address = msg.listening; ok(); }
        if (msg.request !== undefined) requests.push(msg.request);
      }
    });
    void exitPromise.then(() => fail(new Error(`instrumented upstream ${options.name} exited: ${stderr}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([listening, new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`instrumented upstream ${options.name} did not listen within 15 s: ${stderr}`)), 15_000);
    })]);
  } catch (err) {
    kill();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    address,
    port: options.port,
    pid,
    name: options.name,
    requests,
    async stop() {
      if (!exited) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
        await Promise.race([exitPromise, new Promise((ok) => setTimeout(ok, 10_000).unref())]);
      }
      kill();
      if (stderr.trim() !== '') process.stderr.write(`[${options.name}] ${stderr}`);
    },
  };
}

// ---------------------------------------------------------------- the service itself

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
}

async function main(argv: string[]): Promise<void> {
  const host = argValue(argv, '--host') ?? '127.0.0.1';
  const port = Number(argValue(argv, '--port') ?? '0');
  const name = argValue(argv, '--name') ?? 'shop';
  const otlp = argValue(argv, '--otlp');
  const serviceName = argValue(argv, '--service') ?? 'shop-api';
  if (otlp === undefined) throw new Error('--otlp <url> is required');

  // The SDK set up as its README shows for Node: context manager, propagator, provider.
  const { context, propagation, trace, SpanKind } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { TracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'service.instance.id': name }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: otlp }), scheduledDelayMillis: 200, maxQueueSize: 8192 })],
  });
  trace.setGlobalTracerProvider(provider);
  registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });

  // The http instrumentation patches the module when it is required (require-in-the-middle);
  // load it only now, after registerInstrumentations(), so the server is instrumented.
  const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
  const tracer = trace.getTracer('shop-api');

  const server = http.createServer((req, res) => {
    const serverSpan = trace.getActiveSpan();
    const ctx = serverSpan?.spanContext();
    const parent = serverSpan !== undefined && 'parentSpanContext' in serverSpan
      ? (serverSpan as unknown as { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId
      : undefined;
    const record: InstrumentedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      traceparent: req.headers.traceparent as string | undefined,
      traceId: ctx?.traceId ?? '',
      spanId: ctx?.spanId ?? '',
      parentSpanId: parent,
    };
    process.stdout.write(`${JSON.stringify({ request: record })}\n`);
    // The application's own work, a child of the instrumentation's SERVER span.
    tracer.startActiveSpan('load item', { kind: SpanKind.INTERNAL, attributes: { 'shop.item.path': record.url } }, (span) => {
      setTimeout(() => {
        span.end();
        const body = JSON.stringify({ service: serviceName, instance: name, path: record.url });
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Upstream': name });
        res.end(body);
      }, 2);
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const addr = server.address();
  const boundPort = addr !== null && typeof addr === 'object' ? addr.port : port;
  process.stdout.write(`${JSON.stringify({ listening: `${host}:${boundPort}` })}\n`);

  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    provider.shutdown().then(
      () => process.exit(0),
      (err: unknown) => { process.stderr.write(`span flush failed: ${(err as Error).message}\n`); process.exit(1); },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (process.argv[1] !== undefined && process.argv[1] === THIS_FILE) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
