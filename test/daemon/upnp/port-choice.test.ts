// The external port choice after conflicts: the internal port first, then a
// different one each time, never a refused one, always unprivileged.
import test from 'ava';
import { pickExternalPort } from '../../../daemon/upnp/port-choice.js';

test('the internal port first', (t) => {
  t.is(pickExternalPort(1194, new Set()), 1194);
});

test('after each refusal another port, never one refused before, all in 1024-65535', (t) => {
  const refused = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const p = pickExternalPort(1194, refused);
    t.true(p !== undefined && p >= 1024 && p <= 65535 && !refused.has(p), `try ${i}: ${p}`);
    refused.add(p!);
  }
  t.is(refused.size, 50);
});

test('a port near the top wraps into the range', (t) => {
  const p = pickExternalPort(65535, new Set([65535]));
  t.true(p !== undefined && p >= 1024 && p < 65535, String(p));
});

test('every port refused: none left', (t) => {
  const all = new Set<number>();
  for (let p = 1024; p <= 65535; p++) all.add(p);
  t.is(pickExternalPort(1194, all), undefined);
});
