// parseSoapFault against replies captured from miniupnpd 2.3.1 (fixtures/, each with its header).
import { readFileSync } from 'node:fs';
import test from 'ava';
import { parseSoapFault } from '../../../daemon/upnp/soap-fault.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const cases: { name: string; input: unknown; want: ReturnType<typeof parseSoapFault> }[] = [
  { name: 'IGDv2 map for another host', input: fixture('igdv2-add-other-client.xml'), want: { upnpErrorCode: 718, errorDescription: 'ConflictInMappingEntry' } },
  { name: 'IGDv1 map for another host', input: fixture('igdv1-add-other-client.xml'), want: { upnpErrorCode: 718, errorDescription: 'ConflictInMappingEntry' } },
  { name: 'IGDv2 port outside the allow rules', input: fixture('igdv2-add-denied-port.xml'), want: { upnpErrorCode: 606, errorDescription: 'Action not authorized' } },
  { name: 'IGDv1 port outside the allow rules', input: fixture('igdv1-add-denied-port.xml'), want: { upnpErrorCode: 606, errorDescription: 'Action not authorized' } },
  { name: 'a success reply is no fault', input: fixture('igdv2-add-ok.xml'), want: undefined },
  { name: 'a reply with data is no fault', input: fixture('igdv1-get-specific.xml'), want: undefined },
  {
    name: 'prefixed elements (other routers)',
    input: '<s:Fault><detail><u:UPnPError><u:errorCode> 725 </u:errorCode><u:errorDescription>OnlyPermanentLeasesSupported</u:errorDescription></u:UPnPError></detail></s:Fault>',
    want: { upnpErrorCode: 725, errorDescription: 'OnlyPermanentLeasesSupported' },
  },
  { name: 'code without description', input: '<errorCode>501</errorCode>', want: { upnpErrorCode: 501, errorDescription: '' } },
  { name: 'non-numeric code', input: '<errorCode>oops</errorCode>', want: undefined },
  { name: 'HTML error page', input: '<html><body>500 Internal Server Error</body></html>', want: undefined },
  { name: 'not text (axios parsed JSON)', input: { error: 1 }, want: undefined },
  { name: 'empty', input: '', want: undefined },
];

for (const c of cases) {
  test(`parseSoapFault: ${c.name}`, (t) => {
    t.deepEqual(parseSoapFault(c.input), c.want);
  });
}
