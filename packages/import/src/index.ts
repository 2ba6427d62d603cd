/**
 * `kiln import`: Packer templates (HCL2 folders and files, .pkr.json, legacy JSON) → a kiln build
 * file and YAML variables files, with a report of what has no kiln equivalent (kept in the output
 * as commented blocks) and whether the result validates.
 */
export { type ImportOptions, type ImportResult, importTemplates } from "./import.js";
export { formatReport, ImportError, type Position, type ReportEntry } from "./report.js";
