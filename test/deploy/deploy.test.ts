// deploy/ cannot be run here (no Docker engine, no cluster); this checks what can be:
// every YAML parses, the Kubernetes ConfigMaps carry exactly `print-config`'s output, their
// nginx config passes `nginx -t`, the sidecar's flags exist, probes and hardening are set,
// and the Dockerfile and compose files name files that exist.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { NGINX_BIN, REPO_ROOT } from '../support/nginx.ts';
import { runCli } from '../support/sidecar.ts';

const deploy = (path: string) => join(REPO_ROOT, 'deploy', path);
const manifests = ['kubernetes/nginx-with-sidecar.yaml', 'kubernetes/nginx-with-sidecar-syslog.yaml'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function nginxT(httpBody: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'nos-deploy-'));
  try {
    writeFileSync(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid; error_log ${dir}/error.log; events {}\nhttp {\n${httpBody}\n}\n`);
    execFileSync(NGINX_BIN, ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('deploy/', () => {
  it.each(manifests)('%s: ConfigMap = print-config, nginx -t passes, sidecar flags exist, probes and hardening set', async (file) => {
    const docs = parseAllDocuments(readFileSync(deploy(file), 'utf8')).map((d) => d.toJS() as Any);
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    const deployment = docs.find((d) => d.kind === 'Deployment');
    const printed = await runCli(['print-config']);
    expect(configMap.data['otel.conf']).toBe(printed.stdout);

    const dir = mkdtempSync(join(tmpdir(), 'nos-deploy-conf-'));
    try {
      writeFileSync(join(dir, 'otel.conf'), configMap.data['otel.conf']);
      const site = (configMap.data['default.conf'] as string)
        .replace('/etc/nginx/otel/otel.conf', join(dir, 'otel.conf'))
        .replace(/access_log \/var\/log\/nginx\/access\.log/, `access_log ${dir}/access.log`)
        .replace(/app\.default\.svc\.cluster\.local/g, '127.0.0.1')
        .replace(/listen 8080/, 'listen 127.0.0.1:1');
      nginxT(site);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const pod = deployment.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const sidecar = pod.containers.find((c: Any) => c.name === 'nginx-otel-sidecar');
    expect(sidecar.startupProbe.httpGet.path).toBe('/healthz');
    expect(sidecar.livenessProbe.httpGet.path).toBe('/healthz');
    expect(sidecar.readinessProbe).toBeUndefined(); // it would take nginx out of the Service
    expect(sidecar.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(sidecar.resources.requests.cpu).toBeDefined();
    const help = (await runCli(['run', '--help'])).stdout;
    for (const arg of sidecar.args.slice(1)) expect(help).toContain(arg.split('=')[0]);
  });

  it('the compose demo parses, its nginx config passes nginx -t, and it names files that exist', () => {
    const compose = parseYaml(readFileSync(deploy('compose/docker-compose.yaml'), 'utf8')) as Any;
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['nginx', 'sidecar', 'collector', 'jaeger', 'app']));
    for (const service of Object.values(compose.services) as Any[]) {
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(':')[0];
        if (source.startsWith('.')) expect(existsSync(join(deploy('compose'), source)), source).toBe(true);
      }
    }
    const conf = readFileSync(deploy('compose/nginx.conf'), 'utf8')
      .replaceAll('/etc/nginx/otel/', `${REPO_ROOT}/nginx/`)
      .replace('/var/log/nginx-otel/access.log', '/dev/null')
      .replace('app:8080', '127.0.0.1:2')
      .replace('listen 8080', 'listen 127.0.0.1:1');
    nginxT(conf);
  });

  it('the Dockerfile copies files that exist and runs the CLI that the package builds', () => {
    const dockerfile = readFileSync(deploy('Dockerfile'), 'utf8');
    for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of sources.split(' ')) expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
    }
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(dockerfile).toContain(`/app/${pkg.bin['nginx-otel-sidecar']}`);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
  });
});
