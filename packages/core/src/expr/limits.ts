/** The safety limits of the expression language. Nothing a build file says may hang or crash kiln. */

/** Longest template string accepted, in characters. */
export const MAX_TEMPLATE_LENGTH = 64 * 1024;
/** Deepest nesting of an expression tree, and of values walked by comparisons and serialisation. */
export const MAX_DEPTH = 64;
/** Longest string an expression may produce, in characters. */
export const MAX_STRING_LENGTH = 1024 * 1024;
/** Most items a list (or keys a map) built by an expression may have. */
export const MAX_COLLECTION_SIZE = 10_000;
/** Longest regular expression pattern, in characters. */
export const MAX_REGEX_LENGTH = 256;
/** Longest input a regular expression is applied to, in characters. */
export const MAX_REGEX_INPUT = 64 * 1024;
/** Largest file `file()` and `templatefile()` read, in bytes. */
export const MAX_FILE_SIZE = 1024 * 1024;
/** How deeply `templatefile()` may render templates that call `templatefile()`. */
export const MAX_TEMPLATEFILE_DEPTH = 8;
