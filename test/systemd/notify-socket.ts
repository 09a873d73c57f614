// A fake $NOTIFY_SOCKET: a unix datagram socket that records what arrives and
// from which PID (SO_PASSCRED), as systemd's manager would see it. Node has no
// unix datagram sockets, so a small python3 program listens (python3: Debian
// package python3, in scripts/setup.sh).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const LISTENER = `
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(4 * 8))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            # BARRIER=1 comes with a pipe's write end: closing it tells the sender it was read.
            for fd in struct.unpack("%di" % (len(payload) // 4), payload[: len(payload) - len(payload) % 4]):
                os.close(fd)
    print(json.dumps({"pid": pid, "text": data.decode("utf-8", "replace")}), flush=True)
`;

export interface NotifyDatagram {
  /** The sender's PID from its credentials. */
  pid: number | null;
  /** The assignments, e.g. { READY: '1', STATUS: '…' }. */
  fields: Record<string, string>;
  atMs: number;
}

export interface FakeNotifySocket {
  path: string;
  datagrams: NotifyDatagram[];
  stop(): Promise<void>;
}

export async function fakeNotifySocket(): Promise<FakeNotifySocket> {
  const dir = mkdtempSync(join(tmpdir(), 'rn-notify-'));
  const path = join(dir, 'notify.sock');
  let child: ChildProcess;
  try {
    child = spawn('python3', ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const datagrams: NotifyDatagram[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += String(d)));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const listening = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run python3 for the fake NOTIFY_SOCKET (${err.message}); install it: apt-get install python3`)));
    void exited.then(() => reject(new Error(`the fake NOTIFY_SOCKET listener exited: ${stderr.trim()}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { listening?: boolean; pid?: number | null; text?: string };
      if (m.listening) return resolve();
      const fields: Record<string, string> = {};
      for (const assignment of (m.text ?? '').split('\n')) {
        const eq = assignment.indexOf('=');
        if (eq > 0) fields[assignment.slice(0, eq)] = assignment.slice(eq + 1);
      }
      datagrams.push({ pid: m.pid ?? null, fields, atMs: Date.now() });
    });
  });
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await listening;
  } catch (err) {
    await stop();
    throw err;
  }
  return { path, datagrams, stop };
}
