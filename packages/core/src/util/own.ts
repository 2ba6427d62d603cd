/** Setting a key of a plain map as its own data property, whatever its name (`__proto__` too). */
export function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}
