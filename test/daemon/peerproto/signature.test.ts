import test from 'ava';
import { generateKeyPairSync, sign } from 'node:crypto';
import { derSignature } from '../../../daemon/peerproto/signature.js';
import { verifyBytes } from '../../../pki/identity.js';

test('a P1363 signature re-encoded as DER verifies with pki verifyBytes; a DER one passes through', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  for (let i = 0; i < 200; i++) {
    const data = Buffer.from(`frame ${i}`);
    const p1363 = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    t.is(p1363.length, 64);
    t.true(verifyBytes(publicKey, data, derSignature(p1363)), `P1363 signature ${i}`);
    t.false(verifyBytes(publicKey, Buffer.from(`other ${i}`), derSignature(p1363)));
    const der = sign('sha256', data, privateKey);
    t.is(derSignature(der), der);
  }
});

test('high bits and leading zeros: DER integers get a 0x00 prefix or lose their zeros', (t) => {
  const sig = Buffer.concat([Buffer.alloc(32, 0xff), Buffer.concat([Buffer.alloc(31, 0), Buffer.from([0x05])])]);
  const der = derSignature(sig);
  t.is(der.toString('hex'), '3026' + '0221' + '00' + 'ff'.repeat(32) + '0201' + '05');
});
