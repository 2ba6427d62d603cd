/**
 * Where editors find the build-file schema that ships in @kiln/cli: jsDelivr serves every file
 * of every npm package, and `@0` is the newest 0.x release. The major version here follows the
 * package's (a test checks it), so a URL written into a file keeps meaning the same format.
 */
export const EDITOR_SCHEMA_URL = "https://cdn.jsdelivr.net/npm/@kiln/cli@0/schema.json";

/** The same file through unpkg, another CDN of npm packages (for SchemaStore's catalog, docs). */
export const EDITOR_SCHEMA_URL_UNPKG = "https://unpkg.com/@kiln/cli@0/schema.json";

/** The schema `kiln schema --write` and `kiln init` write beside a build file, and how the file refers to it. */
export const PROJECT_SCHEMA = ".kiln/schema.json";
