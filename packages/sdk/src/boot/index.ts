export {
  CHAR_QCODES,
  charQcodes,
  SPECIAL_KEY_QCODES,
  SPECIAL_KEYS,
  type SpecialKey,
  specialKeyByName,
  USED_QCODES,
} from "./keys.js";
export {
  type ActionSource,
  BOOT_COMMAND_ERROR,
  type BootAction,
  BootCommandError,
  type CharAction,
  formatBootAction,
  type HoldAction,
  type KeyAction,
  type ParseBootCommandOptions,
  parseBootCommand,
  type WaitAction,
} from "./parse.js";
export {
  actionQcodes,
  type KeyDriver,
  type TypeBootCommandOptions,
  type TypeProgress,
  typeBootCommand,
} from "./type.js";
