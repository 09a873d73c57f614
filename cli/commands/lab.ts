// `resilnet lab …`: a whole resilnet network on one machine, in network
// namespaces. Thin: parse flags, call lab/, print text or --json.
import type { Command } from 'commander';
import { ResilnetError } from '../../config/errors.js';
import { join } from 'node:path';
import { labExecEnv, realRunner, writeResilnetWrapper } from '../../lab/exec.js';
import { DEFAULT_HELLO_SEC, DEFAULT_NAT, DEFAULT_NODES, labDown, labExec, labList, labUp, randomLabId, resolveLabId } from '../../lab/lab.js';
import { labDir, readManifest } from '../../lab/manifest.js';
import { NAT_KINDS, type NatKind } from '../../lab/layout.js';
import { findRepo, resilnetArgv } from '../../lab/repo.js';
import { collectLabStatus, renderLabStatus } from '../../lab/status.js';
import { DEFAULT_CHAOS_MINUTES, DEFAULT_CUT_SECONDS, runScenario, SCENARIOS } from '../../lab/scenarios.js';
import { writeJson, type CliIo } from '../io.js';

function intOption(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ResilnetError('RN_CLI_USAGE', `${name} must be an integer ${min}…${max} (got "${text}")`);
  }
  return n;
}

function secondsOption(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0.1 || n > 60) throw new ResilnetError('RN_CLI_USAGE', `${name} must be seconds between 0.1 and 60 (got "${text}")`);
  return n;
}

function natKindOption(text: string | undefined): NatKind {
  if (text === undefined) return 'eim';
  if (!(NAT_KINDS as readonly string[]).includes(text)) throw new ResilnetError('RN_CLI_USAGE', `--nat-kind must be ${NAT_KINDS.join(' or ')} (got "${text}")`);
  return text as NatKind;
}

function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

export function registerLabCommands(program: Command, io: CliIo): void {
  const lab = program
    .command('lab')
    .description('a whole resilnet network on this machine (network namespaces; needs root)');

  example(
    lab
      .command('up')
      .description('build a lab: internet, registry, nodes (some behind NAT), daemons; waits until every node reaches every other')
      .option('--name <id>', 'lab name (1-10 lowercase letters/digits; default: random)')
      .option('--nodes <n>', `number of nodes (default ${DEFAULT_NODES})`)
      .option('--nat <k>', `how many of them sit behind a NAT router (default ${DEFAULT_NAT})`)
      .option('--lan <k>', 'how many public nodes (n1…) also share one LAN segment, eth1, with LAN discovery on it (default 0)')
      .option('--nat-lan', 'the NATed nodes share one router (gw1) and one LAN behind it, each with a private address there, with LAN discovery on it (needs --nat 2 or more)')
      .option('--nat-kind <kind>', `how the NAT routers map ports: ${NAT_KINDS.join(' | ')} (endpoint-independent, or address-and-port-dependent; default eim)`)
      .option('--no-upnp', 'the NAT routers run no UPnP server (miniupnpd)')
      .option('--upnp-drop <k>', 'how many NAT routers (the last ones) grant UPnP mappings but drop what arrives on them (default 0)')
      .option('--hello <seconds>', `babel hello interval of the network (default ${DEFAULT_HELLO_SEC})`)
      .option('--timeout <seconds>', 'how long to wait for all-pairs reachability')
      .option('--network-only', 'only the namespaces and NAT routers: no registry, no daemons')
      .option('--json', 'print the lab status as JSON when done (progress goes to stderr)'),
    'sudo resilnet lab up',
    'sudo resilnet lab up --name big --nodes 16 --nat 2 --hello 0.5',
    'sudo resilnet lab up --name office --nodes 4 --nat 1 --lan 2',
    'sudo resilnet lab up --nodes 4 --nat 2 --nat-kind apdm --no-upnp',
    'sudo resilnet lab up --name home --nodes 3 --nat 2 --nat-lan --no-upnp',
    'sudo resilnet lab up --name fw --nodes 4 --nat 2 --upnp-drop 1',
  ).action(async (opts: { name?: string; nodes?: string; nat?: string; lan?: string; natLan?: boolean; natKind?: string; upnp?: boolean; upnpDrop?: string; hello?: string; timeout?: string; networkOnly?: boolean; json?: boolean }) => {
    const nodes = intOption('--nodes', opts.nodes, DEFAULT_NODES, 2, 200);
    const nat = intOption('--nat', opts.nat, Math.min(DEFAULT_NAT, nodes - 1), 0, nodes - 1);
    const progress = (line: string) => (opts.json ? io.stderr : io.stdout).write(`${line}\n`);
    const t0 = Date.now();
    const id = opts.name ?? randomLabId();
    let m;
    try {
      m = await labUp({
        id,
        nodes,
        nat,
        lan: intOption('--lan', opts.lan, 0, 0, nodes - nat),
        ...(opts.natLan ? { natLan: true } : {}),
        natKind: natKindOption(opts.natKind),
        ...(opts.upnp === false ? { upnp: false } : {}),
        upnpDrop: intOption('--upnp-drop', opts.upnpDrop, 0, 0, nat),
        helloSec: secondsOption('--hello', opts.hello, DEFAULT_HELLO_SEC),
        ...(opts.networkOnly ? { networkOnly: true } : {}),
        ...(opts.timeout ? { reachTimeoutMs: intOption('--timeout', opts.timeout, 60, 1, 3600) * 1000 } : {}),
        log: (line) => progress(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`),
      });
    } catch (err) {
      if ((err as ResilnetError).code === 'RN_LAB_UNREACHABLE') progress(`the lab is left up for inspection: resilnet lab status --name ${id}; remove it with: resilnet lab down --name ${id}`);
      throw err;
    }
    const status = await collectLabStatus(realRunner, m, { probe: !opts.networkOnly });
    if (opts.json) writeJson(io, status);
    else {
      io.stdout.write(`\n${renderLabStatus(status)}`);
      io.stdout.write(`\nlab ${m.id} is up. Next: resilnet lab status --name ${m.id} | resilnet lab exec --name ${m.id} n1 -- ip -6 route | resilnet lab down --name ${m.id}\n`);
    }
  });

  example(
    lab
      .command('status')
      .description('per node: overlay address, daemon, tunnels, peers, dead peers; and the reachability matrix')
      .option('--name <id>', 'lab name (default: the only lab)')
      .option('--no-probe', 'skip the reachability pings')
      .option('--json', 'print as JSON: {nodes:[{name,netns,overlay,…}], reachability:{matrix,…}}'),
    'sudo resilnet lab status',
    'sudo resilnet lab status --name demo --json',
  ).action(async (opts: { name?: string; json?: boolean; probe?: boolean }) => {
    const m = readManifest(resolveLabId(opts.name));
    const status = await collectLabStatus(realRunner, m, { probe: opts.probe !== false });
    if (opts.json) writeJson(io, status);
    else io.stdout.write(renderLabStatus(status));
  });

  example(
    lab
      .command('exec')
      .description('run a command inside a lab host (n1…, gw1…, reg, inet); `resilnet` there is this checkout\'s build, and on a node it reads that node\'s config ($RESILNET_CONFIG)')
      .option('--name <id>', 'lab name (default: the only lab)')
      .argument('<host>', 'n1, n2, …, gw1, reg or inet')
      .argument('<command...>', 'the command, after --'),
    'sudo resilnet lab exec --name demo n1 -- ip -6 route',
    'sudo resilnet lab exec --name demo n2 -- resilnet tunnels',
    'sudo resilnet lab exec --name demo n1 -- resilnet peers --dead',
  ).action(async (host: string, command: string[], opts: { name?: string }) => {
    const id = resolveLabId(opts.name);
    const binDir = join(labDir(id), 'bin');
    writeResilnetWrapper(binDir, resilnetArgv(findRepo()));
    const node = readManifest(id).nodes.find((n) => n.name === host);
    // labExec's child inherits this process's environment (this process ends with the command).
    process.env = labExecEnv(process.env, { binDir, ...(node ? { config: node.config } : {}) });
    process.exitCode = await labExec(id, host, command);
  });

  example(
    lab
      .command('down')
      .description('stop every process the lab started and remove its namespaces (works after a crash too)')
      .option('--name <id>', 'lab name (default: the only lab)')
      .option('--all', 'every lab listed by `resilnet lab list`')
      .option('--json', 'print what was removed as JSON'),
    'sudo resilnet lab down --name demo',
  ).action(async (opts: { name?: string; all?: boolean; json?: boolean }) => {
    const ids = opts.all ? labList().map((l) => l.id) : [resolveLabId(opts.name)];
    const reports = [];
    for (const id of ids) reports.push(await labDown(id));
    if (opts.json) writeJson(io, reports);
    else {
      for (const r of reports) {
        io.stdout.write(`lab ${r.id} removed: ${r.processesStopped} processes stopped (+${r.strayProcessesStopped} left in its namespaces), ${r.namespacesRemoved.length} namespaces deleted\n`);
      }
    }
  });

  example(
    lab
      .command('list')
      .description('labs on this machine (from /tmp/resilnet-lab)')
      .option('--json', 'print as JSON'),
    'resilnet lab list',
  ).action((opts: { json?: boolean }) => {
    const labs = labList();
    if (opts.json) return writeJson(io, labs);
    if (labs.length === 0) return void io.stdout.write('no labs\n');
    io.stdout.write('name        state     nodes  nat  processes  created\n');
    for (const l of labs) {
      io.stdout.write(`${l.id.padEnd(11)} ${l.state.padEnd(9)} ${String(l.nodes).padEnd(6)} ${String(l.nat).padEnd(4)} ${`${l.processesRunning}/${l.processesRecorded}`.padEnd(10)} ${l.createdAt}\n`);
    }
  });

  example(
    lab
      .command('scenario')
      .description(`run a scripted case on a lab and report what it measured: ${Object.keys(SCENARIOS).join(', ')}`)
      .argument('<scenario>', Object.entries(SCENARIOS).map(([k, v]) => `${k}: ${v.description}`).join('; '))
      .option('--name <id>', 'lab to run it on (default: a new lab, removed afterwards)')
      .option('--nodes <n>', 'size of a new lab (default: the scenario\'s, else 6)')
      .option('--nat <k>', 'how many nodes of a new lab sit behind NAT')
      .option('--node <name>', 'partition-node: the node to cut off (default n2)')
      .option('--cut-seconds <s>', `partition-node, partition-halves: how long the partition lasts (default ${DEFAULT_CUT_SECONDS})`)
      .option('--minutes <m>', `chaos: length of the fault sequence (default ${DEFAULT_CHAOS_MINUTES})`)
      .option('--seed <s>', 'chaos: seed of the fault sequence (default: random, printed first)')
      .option('--json', 'print only the result as JSON (progress goes to stderr)'),
    'sudo resilnet lab scenario failover',
    'sudo resilnet lab scenario revocation --name demo',
    'sudo resilnet lab scenario partition-node --nodes 5 --cut-seconds 300',
    'sudo resilnet lab scenario chaos --minutes 10 --seed 7',
  ).action(async (scenario: string, opts: { name?: string; nodes?: string; nat?: string; node?: string; cutSeconds?: string; minutes?: string; seed?: string; json?: boolean }) => {
    const nodes = opts.nodes === undefined ? undefined : intOption('--nodes', opts.nodes, DEFAULT_NODES, 2, 200);
    const result = await runScenario(scenario, {
      ...(opts.name ? { id: opts.name } : {}),
      log: (line) => (opts.json ? io.stderr : io.stdout).write(`${line}\n`),
      up: {
        ...(nodes !== undefined ? { nodes } : {}),
        ...(opts.nat !== undefined ? { nat: intOption('--nat', opts.nat, DEFAULT_NAT, 0, (nodes ?? 200) - 1) } : {}),
      },
      scenario: {
        ...(opts.node ? { node: opts.node } : {}),
        ...(opts.cutSeconds !== undefined ? { cutSeconds: intOption('--cut-seconds', opts.cutSeconds, DEFAULT_CUT_SECONDS, 1, 86_400) } : {}),
        ...(opts.minutes !== undefined ? { minutes: intOption('--minutes', opts.minutes, DEFAULT_CHAOS_MINUTES, 1, 1_440) } : {}),
        ...(opts.seed !== undefined ? { seed: intOption('--seed', opts.seed, 0, 0, 2 ** 32 - 1) } : {}),
      },
    });
    // Text mode: the scenario's log ends with its summary; the last line is the result as JSON.
    if (opts.json) writeJson(io, result);
    else io.stdout.write(`${JSON.stringify(result)}\n`);
    if (!result.ok) {
      throw new ResilnetError('RN_LAB_SCENARIO_FAILED', `scenario ${scenario} did not behave as expected: ${result.failures.join('; ')}`);
    }
  });
}
