// The beat sender on an interface that does not exist (a tunnel whose openvpn is
// restarting): it says the beat did not go, and never throws, however often asked.
import test from 'ava';
import { LinkBeats } from '../../../daemon/tunnels/link-beats.js';
import { waitFor } from '../../fixtures/wait.js';

test('no such interface: send is false, the error is reported, and sending again does not throw', async (t) => {
  const errors: string[] = [];
  const beats = new LinkBeats((ifName, err) => errors.push(`${ifName}: ${err.message}`));
  t.teardown(() => beats.close());
  t.false(beats.send('rnnosuchif0'));
  await waitFor(() => (errors.length > 0 ? true : undefined), { what: 'the failed connect reported', timeoutMs: 5_000, intervalMs: 10 });
  for (let i = 0; i < 5; i++) {
    t.notThrows(() => beats.send('rnnosuchif0'));
    await new Promise((r) => setTimeout(r, 20));
  }
  t.false(beats.send('rnnosuchif0'));
  t.regex(errors[0]!, /^rnnosuchif0: /);
});
