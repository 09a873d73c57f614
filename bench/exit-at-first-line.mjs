// Preloaded into a daemon by bench/startup-cpu.ts (node --import): at the daemon's
// first write to stdout (its first log line) prints the CPU and wall time used since
// the process started, as one JSON line on stderr, and exits.
process.stdout.write = () => {
  const cpu = process.cpuUsage();
  process.stderr.write(`${JSON.stringify({ firstLineCpuMs: (cpu.user + cpu.system) / 1000, firstLineWallMs: performance.now() })}\n`);
  process.exit(0);
};
