// A /proc file read again and again through one open descriptor. A read from
// offset 0 makes the kernel write the file's text afresh, so each reading is one
// system call (pread) instead of four (open, fstat, read, close): link liveness
// reads /proc/net/dev several times a second.
import { closeSync, openSync, readSync } from 'node:fs';

/** Far above any /proc file this reads (/proc/net/dev is ~130 bytes per interface). */
const MAX_BYTES = 16 * 1024 * 1024;

export class ProcFile {
  private fd: number | undefined;
  private buf: Buffer;

  constructor(
    readonly path: string,
    initialBytes = 16 * 1024,
  ) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** The whole text now; throws what open or read throws (after one fresh open). */
  read(): string {
    for (let reopened = false; ; ) {
      let n: number;
      try {
        this.fd ??= openSync(this.path, 'r');
        n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      } catch (err) {
        this.close();
        if (reopened) throw err;
        reopened = true;
        continue;
      }
      // A full buffer may have cut the text: read it again into one twice as large.
      if (n < this.buf.length) return this.buf.toString('utf8', 0, n);
      if (this.buf.length >= MAX_BYTES) throw new Error(`${this.path} is larger than ${MAX_BYTES} bytes`);
      this.buf = Buffer.allocUnsafe(this.buf.length * 2);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed: nothing to release.
    }
    this.fd = undefined;
  }
}
