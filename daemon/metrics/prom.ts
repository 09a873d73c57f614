// prom-client's registry and metric classes, loaded one file each. The package
// root also loads the default process collectors and OpenTelemetry: bundled,
// that is ~180 kB and ~5 MB more resident memory in a daemon that uses none of it.
import type * as Prom from 'prom-client';
import CounterClass from 'prom-client/lib/counter.js';
import GaugeClass from 'prom-client/lib/gauge.js';
import HistogramClass from 'prom-client/lib/histogram.js';
import RegistryClass from 'prom-client/lib/registry.js';

export const Registry = RegistryClass as typeof Prom.Registry;
export const Gauge = GaugeClass as typeof Prom.Gauge;
export const Counter = CounterClass as typeof Prom.Counter;
export const Histogram = HistogramClass as typeof Prom.Histogram;
export type Registry = Prom.Registry;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
