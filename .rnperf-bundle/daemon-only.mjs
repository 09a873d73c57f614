import { Command } from 'commander';
import { registerDaemonCommand } from '../dist/cli/commands/daemon.js';
const p = new Command('resilnet').exitOverride();
registerDaemonCommand(p, { stdout: process.stdout, stderr: process.stderr });
try { await p.parseAsync(process.argv.slice(2), { from: 'user' }); } catch (e) { console.error(e.message); }
