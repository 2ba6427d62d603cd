/** A guest's serial console log file: followed line by line, searched for a marker. */
import fs from "node:fs";

/** Calls `onLine` for each line appended to `file` until `until` settles (then reads the rest). */
export function followFile(file: string, until: Promise<unknown>, onLine: (l: string) => void): void {
  let pos = 0;
  let partial = "";
  let stopped = false;
  const read = () => {
    try {
      const size = fs.statSync(file).size;
      if (size < pos) pos = 0; // truncated: a new boot of the same guest
      if (size > pos) {
        const fd = fs.openSync(file, "r");
        const b = Buffer.alloc(size - pos);
        fs.readSync(fd, b, 0, b.length, pos);
        fs.closeSync(fd);
        pos = size;
        partial += b.toString("utf8");
        const lines = partial.split(/\r?\n/);
        partial = lines.pop() ?? "";
        for (const l of lines) onLine(l);
      }
    } catch {
      /* not there yet */
    }
    if (!stopped) setTimeout(read, 200).unref();
  };
  read();
  void until.then(() => {
    stopped = true;
    read();
    if (partial) onLine(partial);
  });
}

/** The log's text from byte `from` on ("" when there is none yet). */
export function readFrom(file: string, from = 0): string {
  try {
    const b = fs.readFileSync(file);
    return b.subarray(Math.min(from, b.length)).toString("utf8");
  } catch {
    return "";
  }
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
