export {
  type ExecuteOptions,
  QmpClient,
  type QmpConnectOptions,
  QmpError,
  type QmpErrorCode,
  type QmpEvent,
  type QmpGreeting,
  type QmpStatus,
  type ScreendumpOptions,
} from "./client.js";
export {
  createQmpKeyDriver,
  QMP_KEYBOARD_DEFAULTS,
  type QmpKeyboardOptions,
} from "./keyboard.js";
export { decodePpm, encodePng, PNG_SIGNATURE, pngSize, ppmToPng } from "./png.js";
