import type { Ui } from "./types.js";

/** Reports progress through ui.progress at most every `intervalMs`, plus the first and last. */
export class Progress {
  private last = 0;
  private done = 0;

  constructor(
    private readonly ui: Ui,
    private readonly id: string,
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly intervalMs = 200,
  ) {
    ui.progress(id, label, 0, total);
    this.last = Date.now();
  }

  add(n: number): void {
    this.done += n;
    const now = Date.now();
    if (now - this.last >= this.intervalMs) {
      this.last = now;
      this.ui.progress(this.id, this.label, this.done, this.total);
    }
  }

  finish(): void {
    this.ui.progress(this.id, this.label, this.done, this.total ?? this.done);
  }
}
