/**
 * Timers for any duration. Node's setTimeout takes at most 2^31-1 ms (about 24.8 days) and
 * fires after 1 ms for anything longer; these chain timers so `timeout: 720h` means 720 hours.
 */

/** The longest delay one setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** Call `fn` once `ms` have passed, however long that is. */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let handle: NodeJS.Timeout | undefined;
  let cleared = false;
  const end = Date.now() + Math.max(0, ms);
  const arm = (left: number) => {
    handle = setTimeout(
      () => {
        if (cleared) return;
        const rest = end - Date.now();
        if (left > MAX_TIMER_MS && rest > 0) arm(rest);
        else fn();
      },
      Math.min(Math.max(0, left), MAX_TIMER_MS),
    );
  };
  arm(Math.max(0, ms));
  return {
    clear() {
      cleared = true;
      if (handle) clearTimeout(handle);
    },
  };
}
