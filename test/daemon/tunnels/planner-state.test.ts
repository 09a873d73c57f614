// How the tunnel manager shows its outgoing tunnels to the planner.
import test from 'ava';
import { plannerState } from '../../../daemon/tunnels/manager.js';

test('a tunnel that was up and lost its link stays "up" for the planner (the lost-link timeout owns it)', (t) => {
  t.is(plannerState({ state: 'connecting', everUp: true }), 'up');
});

test('a tunnel never up is "opening"; up and draining are themselves', (t) => {
  t.is(plannerState({ state: 'connecting', everUp: false }), 'opening');
  t.is(plannerState({ state: 'up', everUp: true }), 'up');
  t.is(plannerState({ state: 'draining', everUp: true }), 'draining');
});
