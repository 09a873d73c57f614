// `resilnet netcheck` behind each kind of lab router (built CLI, `npm run build`
// first): an endpoint-independent router (masquerade persistent) is reported as
// eim, a port-randomising one (masquerade fully-random) as apdm, a node on the
// lab's internet as public. The STUN server is the lab's stund (two addresses),
// so one configured server is enough: its CHANGED-ADDRESS is asked too.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import test from 'ava';
import { labDown, labUp } from '../../lab/lab.js';
import type { NatKind } from '../../lab/layout.js';
import { STUN_PORT } from '../../lab/layout.js';
import { labDir } from '../../lab/manifest.js';
import { findRepo, resilnetArgv } from '../../lab/repo.js';
import type { NetcheckReport } from '../../daemon/nat/netcheck.js';

const run = promisify(execFile);
const cli = resilnetArgv(findRepo());

async function netcheck(netns: string, stun: string): Promise<NetcheckReport> {
  // A control socket that does not exist: no daemon, STUN evidence only.
  const { stdout } = await run('ip', ['netns', 'exec', netns, ...cli, 'netcheck', '--stun', stun, '--json', '--socket', '/nonexistent/control.sock'], { timeout: 60_000 });
  return JSON.parse(stdout) as NetcheckReport;
}

for (const kind of ['eim', 'apdm'] as const satisfies readonly NatKind[]) {
  test.serial(`netcheck: a node behind a ${kind} router without UPnP is ${kind}; a node on the internet is public`, async (t) => {
    const id = `nc${kind}${randomBytes(2).toString('hex')}`;
    t.teardown(async () => {
      if (existsSync(labDir(id))) await labDown(id);
    });
    const m = await labUp({ id, nodes: 2, nat: 1, natKind: kind, upnp: false, networkOnly: true });
    t.false(m.processes.some((p) => p.role === 'miniupnpd'), 'no miniupnpd with --no-upnp');
    const stun = `${m.layout.inet.bridgeAddress}:${STUN_PORT}`;
    const gw = m.layout.gateways[0]!;
    const behind = m.layout.nodes.find((n) => n.gateway)!;
    const pub = m.layout.nodes.find((n) => !n.gateway)!;

    const r = await netcheck(behind.netns, stun);
    t.is(r.natClass, kind, r.summary);
    t.is(r.externalAddress, gw.wan);
    const mapped = r.evidence.filter((e) => e.startsWith('STUN server'));
    t.is(mapped.length, 2, 'the configured server and its alternate address both answered');
    t.true(mapped.every((e) => e.includes(`as ${gw.wan}:`)), JSON.stringify(mapped));

    const p = await netcheck(pub.netns, stun);
    t.is(p.natClass, 'public', p.summary);
    t.is(p.externalAddress, pub.underlay);
  });
}
