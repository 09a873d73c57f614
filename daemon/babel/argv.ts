// babeld's command line and the runtime statements the daemon sends on its local
// socket, as data. Option set from REPORT.md §3 (netlab), which matches re6stnet.

export interface BabelSpec {
  /** Absolute path of the -G read-write control socket (a relative one would be a TCP port). */
  socketPath: string;
  /** -S state file (babeld keeps its seqno there across clean restarts). */
  stateFile: string;
  /** Hello interval of tunnel interfaces, seconds (fractions allowed, e.g. 0.5). */
  helloIntervalSec: number;
  /** The only prefix this node announces (its own, canonical CIDR text). */
  ownPrefix: string;
  /** The node address (PREFIX::1), used as source of the routes babeld installs. */
  nodeAddress: string;
  /** Tunnel interfaces known at start; more are added at runtime with `interfaceLine`. */
  interfaces: string[];
}

/** babeld refuses to run with no interface at all; this name never exists, so it stays down. */
export const PLACEHOLDER_INTERFACE = 'rn-placeholder';

function formatSec(sec: number): string {
  // babeld takes decimal seconds; keep at most 3 decimals (it counts in ms).
  return String(Math.round(sec * 1000) / 1000);
}

/**
 * argv for babeld in the foreground (no -D: the supervisor keeps it). No pidfile
 * (`-I ''`): babeld refuses to start when one is left from a killed run, and the
 * supervisor knows the PID anyway. Logs go to stderr (no -L), i.e. to the supervisor.
 */
export function buildBabeldArgv(spec: BabelSpec): string[] {
  const prefixLength = spec.ownPrefix.slice(spec.ownPrefix.indexOf('/') + 1);
  const hello = formatSec(spec.helloIntervalSec);
  const interfaces = spec.interfaces.length > 0 ? spec.interfaces : [PLACEHOLDER_INTERFACE];
  return [
    'babeld',
    '-G', spec.socketPath,
    '-I', '',
    '-S', spec.stateFile,
    // -h is the wireless interval, -H the wired one that tunnel interfaces use: set both.
    '-h', hello,
    '-H', hello,
    // A fresh router-id at every start. babeld writes its seqno to the state file only on a
    // clean exit: after a crash it starts from a random seqno, and under a fixed id the other
    // nodes would hold its routes unfeasible (its seqno behind theirs by more than babeld's
    // window of 100 answers no request) until their sources expire, minutes later.
    '-C', 'random-id true',
    '-C', 'default type tunnel',
    // babeld would announce every local address as a host route; announce only our prefix.
    '-C', 'redistribute local deny',
    '-C', `redistribute ip ${spec.ownPrefix} eq ${prefixLength}`,
    '-C', 'redistribute deny',
    '-C', `install pref-src ${spec.nodeAddress}`,
    ...interfaces,
  ];
}

/**
 * Adds a tunnel interface at runtime. NB: babeld 1.12.1 answers ok to this statement
 * for an interface that is already up but does not apply it (measured: hello rate and
 * rxcost unchanged); use reconfigureInterfaceLines for a live interface.
 */
export function interfaceLine(ifName: string, helloIntervalSec: number): string {
  return `interface ${ifName} type tunnel hello-interval ${formatSec(helloIntervalSec)}`;
}

/** Stops babeld using an interface (routes through it are retracted at once). */
export function flushInterfaceLine(ifName: string): string {
  return `flush interface ${ifName}`;
}

/**
 * The statements that change a live interface (hello interval, rxcost) in babeld
 * 1.12.1: `flush interface`, then the full `interface` statement, which babeld applies
 * when it re-adds the interface. Routes through it are withdrawn meanwhile and come
 * back after about two hellos (2.7-3.3 s at hello 1 s, measured); the tunnel itself stays.
 * Send them in order and stop at the first error.
 */
export function reconfigureInterfaceLines(ifName: string, helloIntervalSec: number, options: { rxcost?: number } = {}): string[] {
  const line = options.rxcost === undefined ? interfaceLine(ifName, helloIntervalSec) : drainInterfaceLine(ifName, helloIntervalSec, options.rxcost);
  return [flushInterfaceLine(ifName), line];
}

/**
 * The statement of a drained interface: a high rxcost, advertised to the neighbour in
 * its IHUs, so the neighbour's routes through us cost more and move to other paths
 * (our own side is moved by the peer doing the same). Applied when the interface is
 * added or comes up: on a live one babeld only stores it (desired.ts sets, then bounces).
 */
export function drainInterfaceLine(ifName: string, helloIntervalSec: number, rxcost = DRAIN_RXCOST): string {
  return `interface ${ifName} type tunnel hello-interval ${formatSec(helloIntervalSec)} rxcost ${rxcost}`;
}

/** Large but finite, so the tunnel still carries traffic until every route moved away. */
export const DRAIN_RXCOST = 4096;

/** babeld's rxcost of a wired or tunnel interface when none is set. */
export const NORMAL_RXCOST = 96;

/** Sets the default hello interval for interfaces added later. */
export function defaultHelloLine(helloIntervalSec: number): string {
  return `default hello-interval ${formatSec(helloIntervalSec)}`;
}

/** One option (flag + value) per line, interfaces one per line: for golden tests and logs. */
export function renderBabeldArgv(argv: string[]): string {
  const lines: string[] = [];
  const quote = (a: string): string => (/\s/.test(a) || a === '' ? JSON.stringify(a) : a);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (/^-[A-Za-z]$/.test(a) && i + 1 < argv.length) {
      lines.push(`${a} ${quote(argv[++i]!)}`);
    } else {
      lines.push(quote(a));
    }
  }
  return lines.join('\n') + '\n';
}
