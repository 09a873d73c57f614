// `resilnet` from source, for tests that need the CLI as a separate process.
import { main } from '../../cli/main.js';

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
