/**
 * What the chroot steps set up and must undo — loop devices, mounts, copied files, processes —
 * kept in the run's state as one list. Each step's cleanup undoes its own entries (so success,
 * failure and Ctrl-C all undo everything, in reverse); `chrootTeardownStep` undoes all of them
 * earlier, while the build still runs, for builders that must unmount before they save the disk
 * (snapshot a volume, convert an image). An entry runs once: one that failed stays to be tried
 * again by the cleanups.
 */
import { KilnError, messageOf } from "@kiln/core";

interface Entry {
  id: number;
  label: string;
  undo: () => Promise<void>;
  done: boolean;
}

export class ChrootTeardown {
  private readonly entries: Entry[] = [];
  private next = 1;

  /** Register how to undo something just set up; returns its id. */
  add(label: string, undo: () => Promise<void>): number {
    const id = this.next++;
    this.entries.push({ id, label, undo, done: false });
    return id;
  }

  /** Labels of what is still to undo, most recent first. */
  pending(): string[] {
    return this.entries
      .filter((e) => !e.done)
      .reverse()
      .map((e) => e.label);
  }

  /**
   * Undo the entries with these ids (all when undefined), most recent first. Every entry is tried;
   * failures are reported to `report`, and the first one is thrown at the end when `strict`.
   */
  async undo(
    ids?: number[],
    o: { report?: (message: string) => void; strict?: boolean } = {},
  ): Promise<void> {
    const failures: { label: string; err: unknown }[] = [];
    for (const e of [...this.entries].reverse()) {
      if (e.done || (ids && !ids.includes(e.id))) continue;
      try {
        await e.undo();
        e.done = true;
      } catch (err) {
        failures.push({ label: e.label, err });
        o.report?.(`${e.label}: ${messageOf(err)}`);
      }
    }
    const first = failures[0];
    if (first && o.strict) {
      if (first.err instanceof KilnError && failures.length === 1) throw first.err;
      throw new KilnError(
        "KILN_CHROOT_TEARDOWN",
        `could not undo ${failures.map((f) => `${f.label} (${messageOf(f.err)})`).join("; ")}`,
        { cause: first.err },
      );
    }
  }
}
