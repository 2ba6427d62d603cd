/** qemu-img's `-p` progress, "    (42.17/100%)", as percentages for the progress bar. */
import type { RunContext } from "@kiln/core";

/** The last percentage in a chunk of qemu-img -p output, if any. */
export function lastPercent(chunk: string): number | undefined {
  const m = /\((\d+(?:\.\d+)?)\/100%\)/g;
  let last: RegExpExecArray | null = null;
  for (let x = m.exec(chunk); x; x = m.exec(chunk)) last = x;
  return last ? Number(last[1]) : undefined;
}

/** An onStdout for runTool that shows qemu-img's progress under `id`. */
export function progressParser(ctx: RunContext, id: string, label: string): (chunk: string) => void {
  return (chunk) => {
    const p = lastPercent(chunk);
    if (p !== undefined) ctx.ui.progress(id, label, p, 100);
  };
}
