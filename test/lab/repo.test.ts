import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { findRepo, resilnetArgv, shebangNodeFlags } from '../../lab/repo.js';

test('node flags come from an `env -S node FLAGS` first line', (t) => {
  t.deepEqual(shebangNodeFlags('#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1\nrest'), ['--max-semi-space-size=1', '--v8-pool-size=1']);
  t.deepEqual(shebangNodeFlags('#!/usr/bin/env node\nconsole.log(1)'), []);
  t.deepEqual(shebangNodeFlags('#!/bin/sh\nexec node x'), []);
  t.deepEqual(shebangNodeFlags(''), []);
});

test('the lab runs bin/resilnet with the flags of its own #! line', (t) => {
  const repo = findRepo();
  const bin = join(repo, 'bin', 'resilnet');
  const argv = resilnetArgv(repo);
  t.is(argv[0], process.execPath);
  t.is(argv[argv.length - 1], bin);
  t.deepEqual(argv.slice(1, -1), shebangNodeFlags(readFileSync(bin, 'utf8')));
  t.true(argv.includes('--max-semi-space-size=1'));
});
