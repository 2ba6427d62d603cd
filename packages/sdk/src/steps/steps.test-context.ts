/** A run context for the SDK's step tests, with the events it emitted. */
import { createRunContext, EventBus, type KilnEvent, type RunContext } from "@kiln/core";

export function stepContext(
  baseDir: string,
  over: { force?: boolean; signal?: AbortSignal; source?: string } = {},
): { ctx: RunContext; events: KilnEvent[]; says(): string[]; dispose(): Promise<void> } {
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const source = over.source ?? "img";
  const name = `b.test.${source}`;
  const { ctx, dispose } = createRunContext({
    run: { name, build: "b", source, type: "test", runUuid: "u" },
    ui: bus.ui(name),
    baseDir,
    ...(over.force ? { force: true } : {}),
    ...(over.signal ? { signal: over.signal } : {}),
  });
  const says = () => {
    bus.flush(name);
    return events.flatMap((e) => ("text" in e && typeof e.text === "string" ? [e.text] : []));
  };
  return { ctx, events, says, dispose };
}
