import test from 'ava';
import * as z from 'zod';
import { lazySchema } from '../../config/lazy-schema.js';

function counted<T>(build: () => T): { schema: () => T; builds: () => number } {
  let n = 0;
  return { schema: () => (n++, build()), builds: () => n };
}

test('the schema is built on first use, once', (t) => {
  const c = counted(() => z.strictObject({ port: z.number().int().min(1) }));
  const schema = lazySchema(c.schema);
  t.is(c.builds(), 0);
  t.deepEqual(schema.parse({ port: 5 }), { port: 5 });
  t.false(schema.safeParse({ port: 0 }).success);
  t.false(schema.safeParse({ port: 5, extra: 1 }).success);
  t.deepEqual(Object.keys(schema.shape), ['port']);
  t.is(c.builds(), 1);
});

test('a lazy schema nests in others, lazy or not, and answers instanceof and describe like the schema', (t) => {
  const c = counted(() => z.string().transform((s) => s.toUpperCase()));
  const inner = lazySchema(c.schema);
  const outer = lazySchema(() => z.object({ name: inner.describe('a name'), list: z.array(inner) }));
  t.is(c.builds(), 0);
  const parsed: z.infer<typeof outer> = outer.parse({ name: 'a', list: ['b', 'c'] });
  t.deepEqual(parsed, { name: 'A', list: ['B', 'C'] });
  t.true(inner instanceof z.ZodType);
  t.is(outer.shape.name.description, 'a name');
  const failed = outer.safeParse({ name: 1, list: [] });
  t.false(failed.success);
  t.deepEqual(failed.error?.issues.map((i) => i.path), [['name']]);
  t.is(c.builds(), 1);
});

test('an error thrown while building surfaces at the first use, and the next use tries again', (t) => {
  let fail = true;
  const schema = lazySchema(() => {
    if (fail) throw new Error('bad schema');
    return z.number();
  });
  t.throws(() => schema.parse(1), { message: 'bad schema' });
  fail = false;
  t.is(schema.parse(1), 1);
});
