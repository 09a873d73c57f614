// The port-mapper contract against the in-memory fake, so the fake the mapping
// service is tested with behaves like the real adapter does against miniupnpd.
import test from 'ava';
import { portMapperContract } from '../../contracts/port-mapper.contract.js';
import { FakePortMapper } from './fake-port-mapper.js';

const mapper = new FakePortMapper();
const noGatewayMapper = new FakePortMapper();
noGatewayMapper.gatewayPresent = false;

portMapperContract(test, 'fake', async () => ({
  mapper,
  noGatewayMapper,
  ports: [41194, 41195, 41196],
  expectedExternalIp: mapper.externalAddress,
  expectedInternalIp: mapper.internalIp,
  async gatewayMapping(port, protocol) {
    const m = mapper.table.get(`${protocol}:${port}`);
    return m && { internalPort: m.internalPort, internalIp: m.internalIp };
  },
}));
