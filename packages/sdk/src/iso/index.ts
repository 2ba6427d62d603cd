export {
  cdPath,
  findIsoTool,
  ISO_TOOLS,
  type IsoToolName,
  type MakeIsoOptions,
  type MakeIsoResult,
  makeIso,
} from "./make.js";
