import test from 'ava';
import { MgmtClient, type MgmtEvent } from '../../../daemon/openvpn/mgmt-client.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { fakeLineServer, tempSocketPath } from '../../fakes/fake-line-server.js';
import { waitFor } from '../../fixtures/wait.js';

const BANNER = ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info";

/** A fake openvpn management interface: one client at a time, replies as captured. */
function fakeOpenvpn(path: string) {
  return fakeLineServer(path, {
    greeting: [BANNER],
    onLine: (line, s) => {
      if (line === 'state on') s.write('SUCCESS: real-time state notification set to ON\n>STATE:1795307878,CONNECTED,SUCCESS,,10.142.0.2,48990,10.142.0.1,1195\n');
      else if (line === 'pid') s.write('>BYTECOUNT:1,2\nSUCCESS: pid=24121\n');
      else if (line === 'state') s.write('1795307878,CONNECTED,SUCCESS,,10.142.0.2,48990,10.142.0.1,1195\n>BYTECOUNT:3,4\nEND\n');
      else if (line === 'hang') { /* never answers */ }
      else if (line === 'die') s.destroy();
      else if (line === 'quit') s.end();
      else s.write("ERROR: unknown command, enter 'help' for more options\n");
    },
  });
}

const tmp = (t: { teardown(fn: () => void): void }): string => tempSocketPath(t, 'mgmt', 'x.mgmt');

test('commands queue over one session; notifications become events', async (t) => {
  const path = tmp(t);
  const fake = fakeOpenvpn(path);
  await fake.listen();
  const client = new MgmtClient({ socketPath: path, clock: systemClock, onConnectCommands: ['state on'] });
  const events: MgmtEvent[] = [];
  client.on((e) => events.push(e));
  t.teardown(async () => { await client.close(); await fake.close(); });
  client.start();
  const [pid, state, bogus] = await Promise.all([client.command('pid'), client.command('state'), client.command('bogus')]);
  t.deepEqual(pid, { kind: 'success', text: 'pid=24121' });
  t.deepEqual(state, { kind: 'lines', lines: ['1795307878,CONNECTED,SUCCESS,,10.142.0.2,48990,10.142.0.1,1195'] });
  t.is(bogus.kind, 'error');
  t.deepEqual(fake.received.slice(0, 4), ['state on', 'pid', 'state', 'bogus']);
  t.true(events.some((e) => e.kind === 'line' && e.line.kind === 'state'));
  t.is(events.filter((e) => e.kind === 'line' && e.line.kind === 'bytecount').length, 2);
});

test('connects once openvpn creates its socket, and reconnects after the session drops', async (t) => {
  const path = tmp(t);
  const fake = fakeOpenvpn(path);
  const client = new MgmtClient({ socketPath: path, clock: systemClock, onConnectCommands: ['state on'], maxBackoffMs: 100 });
  const events: MgmtEvent[] = [];
  client.on((e) => events.push(e));
  t.teardown(async () => { await client.close(); await fake.close(); });
  client.start();
  const first = client.command('pid');
  setTimeout(() => void fake.listen(), 300);
  t.is((await first).kind, 'success');
  fake.kick();
  await waitFor(() => { if (events.filter((e) => e.kind === 'connected').length < 2) throw new Error('not reconnected'); return true; }, { timeoutMs: 5000, what: 'reconnect' });
  t.true(events.some((e) => e.kind === 'disconnected'));
  t.is((await client.command('pid')).kind, 'success');
  t.is(fake.received.filter((l) => l === 'state on').length, 2, 'setup commands are sent again');
});

test('a command in flight when the session dies is rejected; a silent one times out', async (t) => {
  const path = tmp(t);
  const fake = fakeOpenvpn(path);
  await fake.listen();
  // Generous: on a loaded machine connecting alone can take a few hundred ms.
  const client = new MgmtClient({ socketPath: path, clock: systemClock, commandTimeoutMs: 2_000, maxBackoffMs: 50 });
  t.teardown(async () => { await client.close(); await fake.close(); });
  client.start();
  await t.throwsAsync(client.command('die'), { code: 'RN_OPENVPN_MGMT_CLOSED' } as never);
  await t.throwsAsync(client.command('hang'), { code: 'RN_OPENVPN_MGMT_TIMEOUT' } as never);
  t.is((await client.command('pid')).kind, 'success', 'the session is usable again');
  await client.close();
  await t.throwsAsync(client.command('pid'), { code: 'RN_OPENVPN_MGMT_CLOSED' } as never);
});

test('commandRetrying runs a command again after a timeout and reports each retry', async (t) => {
  const path = tmp(t);
  let hangs = 1;
  const fake = fakeLineServer(path, {
    greeting: [BANNER],
    onLine: (line, s) => {
      if (line !== 'pid') return;
      if (hangs-- > 0) return; // a slow openvpn: no answer this time
      s.write('SUCCESS: pid=24121\n');
    },
  });
  await fake.listen();
  const client = new MgmtClient({ socketPath: path, clock: systemClock, commandTimeoutMs: 1_500, maxBackoffMs: 50 });
  t.teardown(async () => { await client.close(); await fake.close(); });
  client.start();
  const retries: string[] = [];
  const reply = await client.commandRetrying('pid', { backoff: { firstMs: 20, maxMs: 20 }, onRetry: (err) => retries.push(err.code) });
  t.deepEqual(reply, { kind: 'success', text: 'pid=24121' });
  t.deepEqual(retries, ['RN_OPENVPN_MGMT_TIMEOUT']);
  t.is(fake.received.filter((l) => l === 'pid').length, 2);
});

test('commandRetrying gives up after its attempts with the last timeout', async (t) => {
  const path = tmp(t);
  const fake = fakeLineServer(path, { greeting: [BANNER], onLine: () => undefined });
  await fake.listen();
  const client = new MgmtClient({ socketPath: path, clock: systemClock, commandTimeoutMs: 1_000, maxBackoffMs: 50 });
  t.teardown(async () => { await client.close(); await fake.close(); });
  client.start();
  await client.waitConnected();
  const retries: number[] = [];
  await t.throwsAsync(client.commandRetrying('pid', { attempts: 2, backoff: { firstMs: 10, maxMs: 10 }, onRetry: (_e, attempt) => retries.push(attempt) }), { code: 'RN_OPENVPN_MGMT_TIMEOUT' } as never);
  t.deepEqual(retries, [1]);
  t.true(fake.received.filter((l) => l === 'pid').length <= 2);
});
