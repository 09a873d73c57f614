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
    const verb = line.slice(0, verbEnd);
    if (verb !== 'add' && verb !== 'change' && verb !== 'flush') return false;
    const key = line.slice(verbEnd + 1, idEnd);
    if (verb === 'flush') {
      this.last.delete(key);
      return false;
    }
    const state = line.slice(idEnd);
    if (verb === 'change' && this.last.get(key) === state) return true;
    if (this.last.size >= MAX_OBJECTS && !this.last.has(key)) this.last.clear();
    this.last.set(key, state);
    return false;
  }

  /** A new monitor session replays the table: nothing before it counts. */
  reset(): void {
    this.last.clear();
  }
}
