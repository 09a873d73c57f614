// babeld's monitor repeats itself: it sends "change route …" for every update
// it receives and "change neighbour …" for every hello, most of them identical
// to the object's previous line (measured on an idle 8-node lab: about two in
// three). A repeat changes nothing in the table, so it is dropped before it is
// parsed. Only the text is compared: the first three tokens (verb, object,
// id) name the object, the rest is its state.

/** More objects than any babeld table holds: past this the memory is cleared (fail-safe, never wrong). */
const MAX_OBJECTS = 100_000;

export class MonitorRepeats {
  private readonly last = new Map<string, string>();

  /** True when `line` is a "change" that says exactly what the object's last add/change said. */
  isRepeat(line: string): boolean {
    const verbEnd = line.indexOf(' ');
    const objectEnd = verbEnd < 0 ? -1 : line.indexOf(' ', verbEnd + 1);
    if (objectEnd < 0) return false;
    const space = line.indexOf(' ', objectEnd + 1);
    const idEnd = space < 0 ? line.length : space;
    // Compared in place: a repeat (most lines) costs one string, the object's key.
    const verb = verbEnd === 6 && line.startsWith('change') ? 'change' : verbEnd === 3 && line.startsWith('add') ? 'add' : verbEnd === 5 && line.startsWith('flush') ? 'flush' : undefined;
    if (verb === undefined) return false;
    const key = line.slice(verbEnd + 1, idEnd);
    if (verb === 'flush') {
      this.last.delete(key);
      return false;
    }
    const last = this.last.get(key);
    if (verb === 'change' && last !== undefined && last.length === line.length - idEnd && line.startsWith(last, idEnd)) return true;
    if (this.last.size >= MAX_OBJECTS && last === undefined) this.last.clear();
    this.last.set(key, line.slice(idEnd));
    return false;
  }

  /** A new monitor session replays the table: nothing before it counts. */
  reset(): void {
    this.last.clear();
  }
}
