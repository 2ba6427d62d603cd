/** "Did you mean": the closest known word to a mistyped one, when it is close enough. */
import { closest, distance } from "fastest-levenshtein";

export function suggestion(word: string, known: readonly string[]): string | undefined {
  if (!known.length || !word) return undefined;
  const w = word.toLowerCase();
  const prefix = known.find((k) => k.startsWith(w) && w.length >= 3);
  if (prefix) return prefix;
  const best = closest(w, known as string[]);
  // A swap of two letters (buidl → build) costs 2; longer words may be further off.
  const limit = Math.max(2, Math.floor(w.length / 3));
  return distance(w, best) <= limit ? best : undefined;
}
