export { EXIT, main } from "./main.js";
export { STANDARD_PLUGINS } from "./standard.js";
