import test from 'ava';
import type { Command } from 'commander';
import { buildProgram } from '../../../cli/main.js';
import { DEFAULT_REGISTRY_DIR } from '../../../cli/commands/registry.js';

function leaves(cmd: Command, path: string[] = []): Array<{ name: string; cmd: Command }> {
  if (cmd.commands.length === 0) return [{ name: path.join(' '), cmd }];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

test('every registry command defaults --dir to /var/lib/resilnet-registry and says so in --help', (t) => {
  const io = { stdout: { write: () => true }, stderr: { write: () => true } };
  const registry = buildProgram(io).commands.find((c) => c.name() === 'registry')!;
  const commands = leaves(registry, ['registry']);
  t.true(commands.length >= 10);
  for (const { name, cmd } of commands) {
    const dir = cmd.options.find((o) => o.long === '--dir');
    t.truthy(dir, name);
    t.false(dir!.mandatory, name);
    t.is(dir!.defaultValue, DEFAULT_REGISTRY_DIR, name);
    t.regex(cmd.helpInformation().replace(/\s+/g, " "), /--dir <dir> .*?\(default: "\/var\/lib\/resilnet-registry"\)/, name);
  }
  t.is(DEFAULT_REGISTRY_DIR, '/var/lib/resilnet-registry');
});
