export {
  checkFloppyLabel,
  DEFAULT_FLOPPY_LABEL,
  FLOPPY_DATA_BYTES,
  FLOPPY_IMAGE_BYTES,
  FLOPPY_ROOT_ENTRIES,
  FLOPPY_TOOLS,
  findFloppyTools,
  floppyPath,
  floppySpace,
  type MakeFloppyOptions,
  type MakeFloppyResult,
  makeFloppy,
} from "./make.js";
export {
  type FloppyOptions,
  floppyStep,
  wantsFloppy,
} from "./step.js";
