// `resilnet … | head -1`: once the reader is gone, further output has nowhere to
// go. Node reports that as an EPIPE error on the stream (it ignores SIGPIPE), which
// would end in a stack trace; like any Unix filter, we end quietly instead.
interface ErrorEmitter {
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
}

/** A write to a closed pipe ends the process with `exitCode`; any other stream error is rethrown. */
export function endQuietlyOnClosedPipe(streams: readonly unknown[], exit: (code: number) => void = (code) => process.exit(code), exitCode = 0): void {
  for (const stream of streams) {
    if (!isEmitter(stream)) continue;
    stream.on('error', (err) => {
      if (err.code === 'EPIPE') exit(exitCode);
      else throw err;
    });
  }
}

function isEmitter(s: unknown): s is ErrorEmitter {
  return typeof s === 'object' && s !== null && typeof (s as { on?: unknown }).on === 'function';
}
