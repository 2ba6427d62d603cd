/**
 * The state a run's steps share (Packer's state bag), through typed keys: a step that writes a
 * value and a step that reads it name the same key, and the key carries the value's type.
 *
 *   export const COMMUNICATOR = stateKey<Communicator>("communicator");
 *   ctx.state.put(COMMUNICATOR, ssh);         // the connect step
 *   ctx.state.require(COMMUNICATOR).exec(…);  // a later step
 *
 * Keys are compared by name, so two copies of a plugin's module (or of core) agree.
 */
import type { Communicator } from "./types.js";

export interface StateKey<T> {
  readonly name: string;
  /** Carries the type only; never set. */
  readonly __type?: (value: T) => T;
}

export function stateKey<T>(name: string): StateKey<T> {
  return Object.freeze({ name });
}

export class StateBag {
  private readonly map = new Map<string, unknown>();
  get<T>(key: StateKey<T>): T | undefined {
    return this.map.get(key.name) as T | undefined;
  }
  /** The value, or a clear error saying that an earlier step should have set it. */
  require<T>(key: StateKey<T>): T {
    if (!this.map.has(key.name))
      throw new Error(`internal: state "${key.name}" was not set by an earlier step`);
    return this.map.get(key.name) as T;
  }
  put<T>(key: StateKey<T>, value: T): void {
    this.map.set(key.name, value);
  }
  delete<T>(key: StateKey<T>): void {
    this.map.delete(key.name);
  }
  has<T>(key: StateKey<T>): boolean {
    return this.map.has(key.name);
  }
}

/** The connected communicator (SSH, or none), set by the connect step; provisioners use it. */
export const COMMUNICATOR = stateKey<Communicator>("communicator");
