// A zod schema built the first time it is used instead of when its module is
// imported. Building a schema runs zod's constructors for every field, and the
// daemon imports many more schemas (registry API, network config) than it needs
// before its first log line: built lazily, each costs nothing until it parses
// something (docs/benchmarks.md, "Start-up (issue 9, session 6)").
// The value stands for the schema: `.parse`, `.shape`, nesting in other schemas,
// `instanceof` and `z.infer` work as on the schema itself.

/** `build()` runs once, on the first read of any property; every read goes to what it built. */
export function lazySchema<T extends object>(build: () => T): T {
  let built: T | undefined;
  const schema = (): T => (built ??= build());
  return new Proxy(Object.create(null) as T, {
    get: (_target, key) => Reflect.get(schema(), key),
    set: (_target, key, value) => Reflect.set(schema(), key, value),
    has: (_target, key) => Reflect.has(schema(), key),
    ownKeys: () => Reflect.ownKeys(schema()),
    // A proxy may not report a property as non-configurable unless its (empty) target has it.
    getOwnPropertyDescriptor: (_target, key) => {
      const d = Reflect.getOwnPropertyDescriptor(schema(), key);
      return d && { ...d, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(schema()),
  });
}
