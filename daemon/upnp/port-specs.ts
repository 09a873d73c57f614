// Which ports a node maps: its own module so the settings (on the daemon's start
// path) do not load the UPnP mapper.
import type { PortProtocol } from './port-mapper.js';

export interface PortSpec {
  port: number;
  protocol: PortProtocol;
}

/** The peer-protocol port and the incoming-tunnel range above it, all UDP. */
export function nodePortSpecs(underlayPort: number, maxClients: number): PortSpec[] {
  const specs: PortSpec[] = [{ port: underlayPort, protocol: 'UDP' }];
  for (let i = 1; i <= maxClients; i++) specs.push({ port: underlayPort + i, protocol: 'UDP' });
  return specs;
}
