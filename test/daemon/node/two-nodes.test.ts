// Two real daemons in namespaces: a tunnel forms and each pings the other's PREFIX::1.
import test from 'ava';
import { NodeLab, editFile, registerNode, startDaemon, startRegistry, testNodeConfig, waitFor } from './netlab.js';

test.serial('two nodes form a tunnel and reach each other\'s overlay address', async (t) => {
  const lab = await NodeLab.create(t);
  const reg = await lab.addHost('reg');
  const registry = await startRegistry(lab, reg, ['babel.hello_interval=1']);
  const hostA = await lab.addHost('a');
  const hostB = await lab.addHost('b');
  const cfgA = await registerNode(lab, registry, hostA);
  const cfgB = await registerNode(lab, registry, hostB);
  editFile(cfgA, testNodeConfig);
  editFile(cfgB, testNodeConfig);
  const a = await startDaemon(lab, hostA, cfgA);
  const b = await startDaemon(lab, hostB, cfgB);
  t.log(`a=${a.prefix} b=${b.prefix}`);

  await waitFor('a to have an up tunnel with b', async () => {
    const { tunnels } = await lab.cliJson(hostA, ['tunnels', '--config', cfgA]);
    if (!tunnels.some((x: any) => x.peer === b.prefix && x.state === 'up')) throw new Error(`tunnels: ${JSON.stringify(tunnels)}`);
  }, { timeoutMs: 60_000 });
  await waitFor('a pings b', async () => {
    if (!(await lab.ping6(hostA, b.address))) throw new Error(`no reply from ${b.address}`);
  }, { timeoutMs: 60_000 });
  await waitFor('b pings a', async () => {
    if (!(await lab.ping6(hostB, a.address))) throw new Error(`no reply from ${a.address}`);
  }, { timeoutMs: 30_000 });
  const { events } = await lab.cliJson(hostA, ['events', '--config', cfgA]);
  t.true(events.some((e: any) => new RegExp(`^link with ${b.prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} established via `).test(e.text)), JSON.stringify(events));
});
