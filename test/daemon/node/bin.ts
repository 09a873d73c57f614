// Runs the resilnet CLI from source (tsx), for integration tests:
//   node --import tsx test/daemon/node/bin.ts daemon --config …
import { main } from '../../../cli/main.js';

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
