export { unifiedDiff } from "./diff.js";
export { FORMAT_OPTIONS, FormatError, formatDocument } from "./format.js";
export {
  BUILD_ORDER,
  TOP_LEVEL_ORDER,
  TYPE_FIRST,
  VALIDATION_ORDER,
  VARIABLE_ORDER,
} from "./order.js";
