export { bootCommandProblems } from "./boot.js";
export { commonProblems } from "./common.js";
export { isUrl, localPath, type PathKind, pathListProblems, pathProblem, scriptProblems } from "./files.js";
export { caught, durationProblem, problem, warning } from "./problem.js";
