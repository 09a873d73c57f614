import test from 'ava';
import { pino } from 'pino';
import { MetricsEndpoint } from '../../../daemon/metrics/endpoint.js';

const log = pino({ level: 'silent' });

async function started(render: () => Promise<string>) {
  const endpoint = new MetricsEndpoint({ render, contentType: 'text/plain; version=0.0.4; charset=utf-8', log });
  const at = await endpoint.start({ host: '127.0.0.1', port: 0 });
  return { endpoint, base: `http://127.0.0.1:${at.port}` };
}

test('GET /metrics renders on each scrape; other paths and methods are refused', async (t) => {
  let scrapes = 0;
  const { endpoint, base } = await started(async () => `scrape_number ${++scrapes}\n`);
  t.teardown(() => endpoint.stop());
  t.is(scrapes, 0, 'nothing is rendered before a scrape');
  const r = await fetch(`${base}/metrics`);
  t.is(r.status, 200);
  t.is(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.is(await r.text(), 'scrape_number 1\n');
  t.is(await (await fetch(`${base}/metrics?x=1`)).text(), 'scrape_number 2\n');
  t.is((await fetch(`${base}/`)).status, 200);
  t.is((await fetch(`${base}/other`)).status, 404);
  const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');
  t.is(scrapes, 2);
});

test('a render that fails answers 500 and the endpoint keeps serving', async (t) => {
  let fail = true;
  const { endpoint, base } = await started(async () => {
    if (fail) throw new Error('broken collector');
    return 'ok 1\n';
  });
  t.teardown(() => endpoint.stop());
  t.is((await fetch(`${base}/metrics`)).status, 500);
  fail = false;
  t.is(await (await fetch(`${base}/metrics`)).text(), 'ok 1\n');
});

test('a port in use is RN_METRICS_LISTEN_FAILED with the address and what to change', async (t) => {
  const { endpoint, base } = await started(async () => '');
  t.teardown(() => endpoint.stop());
  const port = Number(new URL(base).port);
  const second = new MetricsEndpoint({ render: async () => '', contentType: 'text/plain', log });
  const err = await t.throwsAsync(second.start({ host: '127.0.0.1', port }));
  t.is((err as { code?: string }).code, 'RN_METRICS_LISTEN_FAILED');
  t.regex(err!.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`));
  t.regex((err as { hint?: string }).hint ?? '', /\[metrics\] listen/);
});

test('stop closes the listener', async (t) => {
  const { endpoint, base } = await started(async () => 'x 1\n');
  await endpoint.stop();
  await t.throwsAsync(fetch(`${base}/metrics`));
});
