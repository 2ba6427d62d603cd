/**
 * Fault injection: error or hanging answers for matching actions, throttling (429, code 25),
 * actions that answer 200 but do nothing (a dropped CreateSecurityGroupRule), transitions that
 * fail, hang or take long, terminated VMs that vanish at once, lost guests, lockouts, a skewed
 * server clock.
 */
export type TransitionKind = "vm" | "image" | "snapshot" | "volume";

export interface ActionFault {
  action: string | RegExp;
  status?: number;
  code?: string;
  type?: string;
  details?: string;
  /** Never answered (the client times out or gives up). */
  hang?: boolean;
  /** How many requests it hits (default: all). */
  times?: number;
  headers?: Record<string, string>;
}

export interface Faults {
  inject(f: ActionFault): number;
  remove(id: number): void;
  /** The next `times` calls (of `action`, or any) answer 429 RequestLimitExceeded (code 25). */
  throttle(times: number, action?: string): void;
  /** Calls of `action` answer 200 and change nothing. */
  drop(action: string, times?: number): void;
  /** The next transition of `kind` ends in its failure state (failed/error) with `reason`. */
  failTransition(kind: TransitionKind, reason: string, times?: number): void;
  /** Transitions of `kind` never finish (until clear()). */
  stickTransition(kind: TransitionKind): void;
  /** Transitions of `kind` take at least `ms`. */
  slowTransition(kind: TransitionKind, ms: number): void;
  /** Terminated VMs vanish from ReadVms at once. */
  dropTerminated(on?: boolean): void;
  /** The guest dies; its VM becomes terminated (or vanishes with `vanish`). */
  loseGuest(vmId: string, opts?: { vanish?: boolean }): Promise<void>;
  /** The server's clock runs `ms` ahead (negative: behind) of the machine's. */
  clockOffset(ms: number): void;
  clear(): void;
}

export class FaultState {
  list = new Map<number, ActionFault & { left: number }>();
  seq = 0;
  throttled: { left: number; action?: string } | undefined;
  dropped = new Map<string, number>();
  failing = new Map<TransitionKind, { reason: string; left: number }>();
  stuck = new Set<TransitionKind>();
  slow = new Map<TransitionKind, number>();
  dropTerminated = false;
  offsetMs = 0;

  take(action: string): ActionFault | undefined {
    for (const [id, f] of this.list) {
      const hit = typeof f.action === "string" ? f.action === action : f.action.test(action);
      if (!hit) continue;
      if (--f.left <= 0) this.list.delete(id);
      return f;
    }
    return undefined;
  }
  takeThrottle(action: string): boolean {
    const t = this.throttled;
    if (!t || (t.action && t.action !== action)) return false;
    if (--t.left <= 0) this.throttled = undefined;
    return true;
  }
  takeDrop(action: string): boolean {
    const n = this.dropped.get(action);
    if (!n) return false;
    if (n - 1 <= 0) this.dropped.delete(action);
    else this.dropped.set(action, n - 1);
    return true;
  }
  takeFailure(kind: TransitionKind): string | undefined {
    const f = this.failing.get(kind);
    if (!f) return undefined;
    if (--f.left <= 0) this.failing.delete(kind);
    return f.reason;
  }
  clear(): void {
    this.list.clear();
    this.throttled = undefined;
    this.dropped.clear();
    this.failing.clear();
    this.stuck.clear();
    this.slow.clear();
    this.dropTerminated = false;
    this.offsetMs = 0;
  }
}
