// babeld as this node runs it: its control socket and state file in the node's folders,
// the announced prefix and the routes' source address taken from the node's prefix.
import { join } from 'node:path';
import { nodeAddress, parsePrefix } from '../../config/ipv6.js';
import type { BabelLinkSpec } from '../babel-link.js';

export function nodeBabelSpec(dirs: { run_dir: string; state_dir: string }, prefix: string, helloIntervalSec: number): BabelLinkSpec {
  return {
    socketPath: join(dirs.run_dir, 'babeld.sock'),
    stateFile: join(dirs.state_dir, 'babeld.state'),
    helloIntervalSec,
    ownPrefix: prefix,
    nodeAddress: nodeAddress(parsePrefix(prefix)),
  };
}
