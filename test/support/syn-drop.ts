/**
 * Kernel-level network faults for tests (needs root):
 *  - dropSyns(): an iptables rule dropping a share of the SYNs to a port (the SYN sender then
 *    retransmits after 1 s, 2 s, ...), tagged `-m comment --comment nos-test-<pid>`;
 *  - createNetns(): a network namespace (optionally with a veth pair to the host, addresses in
 *    10.231.0.0/16 /30 blocks) to run nginx or an upstream in, e.g. with
 *    net.ipv4.tcp_syn_linear_timeouts=0 for the classic 1 s / 3 s / 7 s SYN backoff;
 *  - createDelayedLink(): a point-to-point link between two namespaces with a fixed one-way
 *    delay — `tc netem` on a veth pair when the kernel has it, else a userspace TUN bridge
 *    (a small Perl process that holds every packet for the delay);
 *  - probeKernelFacilities(), removeLeftovers().
 * Every resource is registered with cleanup.ts, so it is removed at exit if not disposed.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { registerCleanup, type Cleanup } from './cleanup.ts';

const PID = process.pid;
/** The iptables comment tagging this process's rules. */
export const RULE_COMMENT = `nos-test-${PID}`;
const NETNS_PREFIX = 'nos-';

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}): ${(r.stderr ?? '').trim()}`);
  }
  return r.stdout ?? '';
}

function tryRun(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

/** `cmd args` run inside `netns` when given. */
function nsArgs(netns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns === undefined ? [cmd, args] : ['ip', ['netns', 'exec', netns, cmd, ...args]];
}

// ---------------------------------------------------------------- iptables SYN drops

export interface SynDropOptions {
  /** Destination port whose SYNs are dropped. */
  port: number;
  /** 0 < p <= 1; 1 drops every SYN (no statistic match then). */
  probability: number;
  /** Incoming interface (default `lo`). */
  iface?: string;
  /** Add the rule inside this network namespace's INPUT chain. */
  netns?: string;
}

/** Removes the rule (`iptables -D` with the same spec); idempotent. `rule` is the spec. */
export type SynDrop = Cleanup & { rule: string[]; netns?: string };

/** The rule spec (without -I/-D and chain) that dropSyns() installs. */
export function synDropRuleSpec(options: SynDropOptions): string[] {
  const p = options.probability;
  if (!(p > 0 && p <= 1)) throw new Error(`probability must be in (0, 1], got ${p}`);
  const spec = ['-i', options.iface ?? 'lo', '-p', 'tcp', '--dport', String(options.port), '--syn'];
  if (p < 1) spec.push('-m', 'statistic', '--mode', 'random', '--probability', String(p));
  spec.push('-m', 'comment', '--comment', RULE_COMMENT, '-j', 'DROP');
  return spec;
}

/** `iptables -I INPUT <spec>`; returns a disposer running `iptables -D INPUT <spec>`. */
export function dropSyns(options: SynDropOptions): SynDrop {
  const spec = synDropRuleSpec(options);
  run(...nsArgs(options.netns, 'iptables', ['-w', '-I', 'INPUT', ...spec]));
  const where = options.netns !== undefined ? ` in netns ${options.netns}` : '';
  const dispose = registerCleanup(`iptables rule ${spec.join(' ')}${where}`, () => {
    // The namespace may already be gone (with its rules); then there is nothing to delete.
    if (options.netns !== undefined && !netnsExists(options.netns)) return;
    run(...nsArgs(options.netns, 'iptables', ['-w', '-D', 'INPUT', ...spec]));
  });
  return Object.assign(dispose, { rule: spec, netns: options.netns });
}

/** Rules in INPUT tagged nos-test-<pid> (any pid), as `iptables -S` lines. */
export function listTaggedRules(netns?: string): string[] {
  const out = run(...nsArgs(netns, 'iptables', ['-w', '-S', 'INPUT']));
  return out.split('\n').filter((l) => /--comment "?nos-test-\d+/.test(l));
}

// ---------------------------------------------------------------- network namespaces

let counter = 0;

/** A /30 block in 10.231.0.0/16 unlikely to collide with another test process. */
function subnet30(index: number): [string, string] {
  const block = (PID * 16 + index) % 16384;
  const third = block >> 6;
  const fourth = (block & 63) * 4;
  return [`10.231.${third}.${fourth + 1}`, `10.231.${third}.${fourth + 2}`];
}

export function netnsExists(name: string): boolean {
  const r = tryRun('ip', ['netns', 'list']);
  return r.out.split('\n').some((l) => l.split(' ')[0] === name);
}

export interface Netns {
  name: string;
  /** Host end of the veth pair (when created with `veth`), e.g. 10.231.3.1. */
  hostAddr?: string;
  /** Namespace end of the veth pair, e.g. 10.231.3.2: listen here to be reachable from the host. */
  nsAddr?: string;
  hostIf?: string;
  nsIf?: string;
  /** Runs a command inside the namespace and returns its stdout; throws on failure. */
  exec(cmd: string, args: string[]): string;
  /** Spawns a long-running command inside the namespace (`ip netns exec` execs it, so pid is the command's). */
  spawn(cmd: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** `sysctl -w key=value` inside the namespace (net.* sysctls are per namespace). */
  sysctl(key: string, value: string | number): void;
  readSysctl(key: string): string;
  /** Deletes the namespace (and the veth pair, its processes must be gone already). */
  delete(): void;
}

export interface NetnsOptions {
  /** Create a veth pair to the host with a /30 from 10.231.0.0/16 (default true). */
  veth?: boolean;
  /** Set net.ipv4.tcp_syn_linear_timeouts inside (0 = classic exponential 1 s, 3 s, 7 s). */
  synLinearTimeouts?: number;
}

export function createNetns(options: NetnsOptions = {}): Netns {
  const index = counter++;
  const name = `${NETNS_PREFIX}${PID}-${index}`;
  run('ip', ['netns', 'add', name]);
  const remove = registerCleanup(`netns ${name}`, () => {
    // Kill what still runs inside, then delete (the host veth end goes with its peer).
    const pids = tryRun('ip', ['netns', 'pids', name]).out.split('\n').filter((p) => /^\d+$/.test(p));
    for (const p of pids) {
      try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
    }
    if (netnsExists(name)) run('ip', ['netns', 'del', name]);
  });
  const exec = (cmd: string, args: string[]): string => run('ip', ['netns', 'exec', name, cmd, ...args]);
  const ns: Netns = {
    name,
    exec,
    spawn: (cmd, args, spawnOptions = {}) => spawn('ip', ['netns', 'exec', name, cmd, ...args], spawnOptions),
    sysctl: (key, value) => { exec('sysctl', ['-q', '-w', `${key}=${value}`]); },
    readSysctl: (key) => exec('sysctl', ['-n', key]).trim(),
    delete: remove,
  };
  try {
    exec('ip', ['link', 'set', 'lo', 'up']);
    if (options.veth !== false) {
      const [hostAddr, nsAddr] = subnet30(index);
      const hostIf = `nv${PID}x${index}h`;
      const nsIf = `nv${PID}x${index}n`;
      run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
      run('ip', ['link', 'set', nsIf, 'netns', name]);
      run('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
      run('ip', ['link', 'set', hostIf, 'up']);
      exec('ip', ['addr', 'add', `${nsAddr}/30`, 'dev', nsIf]);
      exec('ip', ['link', 'set', nsIf, 'up']);
      Object.assign(ns, { hostAddr, nsAddr, hostIf, nsIf });
    }
    if (options.synLinearTimeouts !== undefined) ns.sysctl('net.ipv4.tcp_syn_linear_timeouts', options.synLinearTimeouts);
  } catch (err) {
    remove();
    throw err;
  }
  return ns;
}

// ---------------------------------------------------------------- delayed link

export interface DelayedLink {
  /** `netem` (tc qdisc netem on a veth pair) or `tun-bridge` (userspace, Perl). */
  method: 'netem' | 'tun-bridge';
  /** Address of the link's end in namespace `a` / `b`. */
  aAddr: string;
  bAddr: string;
  aIf: string;
  bIf: string;
  delayMs: number;
  dispose(): void;
}

/**
 * A point-to-point link between namespaces `a` and `b` delaying every packet by `delayMs`
 * in each direction (RTT = 2 × delayMs, so a TCP connect takes ≈ 2 × delayMs).
 * `method` forces one implementation; by default netem is tried first.
 */
export async function createDelayedLink(a: Netns, b: Netns, delayMs: number, method?: DelayedLink['method']): Promise<DelayedLink> {
  if (method === 'netem' || (method === undefined && netemAvailable())) return createNetemLink(a, b, delayMs);
  return createTunBridge(a, b, delayMs);
}

let netemChecked: boolean | undefined;
/** Whether `tc qdisc ... netem` works here (checked once on a throwaway namespace's loopback). */
export function netemAvailable(): boolean {
  if (netemChecked !== undefined) return netemChecked;
  const ns = createNetns({ veth: false });
  try {
    netemChecked = tryRun('ip', ['netns', 'exec', ns.name, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']).ok;
  } finally {
    ns.delete();
  }
  return netemChecked;
}

function createNetemLink(a: Netns, b: Netns, delayMs: number): DelayedLink {
  const index = counter++;
  const [aAddr, bAddr] = subnet30(index);
  const aIf = `nd${PID}x${index}a`;
  const bIf = `nd${PID}x${index}b`;
  run('ip', ['link', 'add', aIf, 'netns', a.name, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
  const dispose = registerCleanup(`veth ${aIf}`, () => {
    if (netnsExists(a.name)) tryRun('ip', ['netns', 'exec', a.name, 'ip', 'link', 'del', aIf]);
  });
  try {
    for (const [ns, ifName, addr] of [[a, aIf, aAddr], [b, bIf, bAddr]] as const) {
      ns.exec('ip', ['addr', 'add', `${addr}/30`, 'dev', ifName]);
      ns.exec('ip', ['link', 'set', ifName, 'up']);
      ns.exec('tc', ['qdisc', 'add', 'dev', ifName, 'root', 'netem', 'delay', `${delayMs}ms`]);
    }
  } catch (err) {
    dispose();
    throw err;
  }
  return { method: 'netem', aAddr, bAddr, aIf, bIf, delayMs, dispose };
}

// Opens two TUN devices, says "ready", then copies packets between them, each held for the
// delay (FIFO per direction). Exits when stdin closes (the parent died), which removes the
// (non-persistent) devices.
const TUN_BRIDGE_PERL = String.raw`
use strict; use warnings;
use Time::HiRes qw(time);
my ($na, $nb, $ms) = @ARGV;
my $delay = $ms / 1000;
sub opentun {
  my ($name) = @_;
  open(my $fh, '+<', '/dev/net/tun') or die "open /dev/net/tun: $!\n";
  my $ifr = pack('Z16 s x22', $name, 0x0001 | 0x1000);   # IFF_TUN | IFF_NO_PI
  ioctl($fh, 0x400454ca, $ifr) or die "TUNSETIFF $name: $!\n";
  return $fh;
}
my @in = (opentun($na), opentun($nb));
my @out = ($in[1], $in[0]);
my @q = ([], []);
$| = 1;
print "ready\n";
while (1) {
  my $rin = '';
  vec($rin, fileno($_), 1) = 1 for (@in, \*STDIN);
  my $timeout;
  my $now = time;
  for my $d (0, 1) {
    next unless @{$q[$d]};
    my $t = $q[$d][0][0] - $now;
    $t = 0 if $t < 0;
    $timeout = $t if !defined($timeout) || $t < $timeout;
  }
  my $rout;
  my $n = select($rout = $rin, undef, undef, $timeout);
  if ($n > 0) {
    for my $d (0, 1) {
      next unless vec($rout, fileno($in[$d]), 1);
      my $buf;
      my $r = sysread($in[$d], $buf, 65536);
      push @{$q[$d]}, [time + $delay, $buf] if $r;
    }
    if (vec($rout, fileno(STDIN), 1)) {
      my $buf;
      exit 0 unless sysread(STDIN, $buf, 4096);
    }
  }
  $now = time;
  for my $d (0, 1) {
    while (@{$q[$d]} && $q[$d][0][0] <= $now) {
      my $p = shift @{$q[$d]};
      syswrite($out[$d], $p->[1]);
    }
  }
}
`;

async function createTunBridge(a: Netns, b: Netns, delayMs: number): Promise<DelayedLink> {
  const index = counter++;
  const [aAddr, bAddr] = subnet30(index);
  const aIf = `nt${PID}x${index}a`;
  const bIf = `nt${PID}x${index}b`;
  const child = spawn('perl', ['-e', TUN_BRIDGE_PERL, aIf, bIf, String(delayMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let exited = false;
  child.once('exit', () => { exited = true; });
  const dispose = registerCleanup(`tun bridge ${aIf}<->${bIf} (pid ${child.pid})`, () => {
    if (!exited && child.pid !== undefined) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`tun bridge did not start: ${stderr}`)), 5000);
      child.stdout.once('data', () => { clearTimeout(timer); ok(); });
      child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`tun bridge exited (${code}): ${stderr}`)); });
    });
    for (const [ns, ifName, local, peer] of [[a, aIf, aAddr, bAddr], [b, bIf, bAddr, aAddr]] as const) {
      run('ip', ['link', 'set', ifName, 'netns', ns.name]);
      ns.exec('ip', ['addr', 'add', local, 'peer', `${peer}/32`, 'dev', ifName]);
      ns.exec('ip', ['link', 'set', ifName, 'up']);
    }
  } catch (err) {
    dispose();
    throw err;
  }
  return { method: 'tun-bridge', aAddr, bAddr, aIf, bIf, delayMs, dispose };
}

// ---------------------------------------------------------------- probes and leftovers

export interface FacilityProbe {
  ok: boolean;
  detail: string;
}

/** Tries each facility on throwaway resources and says what works here. */
export function probeKernelFacilities(): Record<'iptablesStatistic' | 'netns' | 'netnsSysctl' | 'netem' | 'tun', FacilityProbe> {
  const result = {
    iptablesStatistic: { ok: false, detail: '' },
    netns: { ok: false, detail: '' },
    netnsSysctl: { ok: false, detail: '' },
    netem: { ok: false, detail: '' },
    tun: { ok: false, detail: '' },
  };
  let ns: Netns | undefined;
  try {
    ns = createNetns({ veth: true });
    result.netns = { ok: true, detail: `created ${ns.name} with veth ${ns.hostAddr} <-> ${ns.nsAddr}` };
  } catch (err) {
    result.netns = { ok: false, detail: (err as Error).message };
  }
  if (ns !== undefined) {
    try {
      const drop = dropSyns({ port: 9, probability: 0.3, netns: ns.name });
      const rules = listTaggedRules(ns.name);
      drop();
      result.iptablesStatistic = { ok: rules.some((r) => r.includes('statistic')), detail: rules.join('; ') };
    } catch (err) {
      result.iptablesStatistic = { ok: false, detail: (err as Error).message };
    }
    try {
      ns.sysctl('net.ipv4.tcp_syn_linear_timeouts', 0);
      const inside = ns.readSysctl('net.ipv4.tcp_syn_linear_timeouts');
      const outside = run('sysctl', ['-n', 'net.ipv4.tcp_syn_linear_timeouts']).trim();
      result.netnsSysctl = { ok: inside === '0', detail: `tcp_syn_linear_timeouts inside=${inside} host=${outside}` };
    } catch (err) {
      result.netnsSysctl = { ok: false, detail: (err as Error).message };
    }
    const netem = tryRun('ip', ['netns', 'exec', ns.name, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '20ms']);
    result.netem = { ok: netem.ok, detail: netem.ok ? 'tc qdisc netem works' : netem.out };
    const tun = tryRun('ip', ['netns', 'exec', ns.name, 'ip', 'tuntap', 'add', 'dev', 'nosprobe0', 'mode', 'tun']);
    result.tun = { ok: tun.ok, detail: tun.ok ? '/dev/net/tun works' : tun.out };
    ns.delete();
  }
  return result;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what earlier (crashed) test processes left: host INPUT rules tagged nos-test-<pid>
 * and namespaces nos-<pid>-* whose pid no longer runs. Returns what it removed.
 */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  for (const line of listTaggedRules()) {
    const pid = Number(/nos-test-(\d+)/.exec(line)?.[1]);
    if (pid === PID || pidAlive(pid)) continue;
    const spec = line.replace(/^-A INPUT /, '').match(/"[^"]*"|\S+/g) ?? [];
    run('iptables', ['-w', '-D', 'INPUT', ...spec.map((s) => s.replace(/^"|"$/g, ''))]);
    removed.push(`iptables ${line}`);
  }
  for (const line of tryRun('ip', ['netns', 'list']).out.split('\n')) {
    const name = line.split(' ')[0];
    const m = /^nos-(\d+)-\d+$/.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === PID || pidAlive(pid)) continue;
    for (const p of tryRun('ip', ['netns', 'pids', name]).out.split('\n').filter((x) => /^\d+$/.test(x))) {
      try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
    }
    tryRun('ip', ['netns', 'del', name]);
    removed.push(`netns ${name}`);
  }
  return removed;
}

/** True when running as root with iptables and ip available (what these helpers need). */
export function canManipulateNetwork(): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  try {
    execFileSync('iptables', ['-w', '-S', 'INPUT'], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// `node test/support/syn-drop.ts --probe`: print what works on this machine; `--clean`: remove leftovers.
if (process.argv[1] !== undefined && process.argv[1] === new URL(import.meta.url).pathname) {
  if (process.argv.includes('--clean')) process.stdout.write(`${JSON.stringify(removeLeftovers(), null, 2)}\n`);
  else process.stdout.write(`${JSON.stringify(probeKernelFacilities(), null, 2)}\n`);
}
