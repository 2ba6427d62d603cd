export {
  VNC_SECURITY_NONE,
  VNC_SECURITY_VNC_AUTH,
  VncClient,
  type VncConnectOptions,
  VncError,
  type VncErrorCode,
  type VncServerInit,
} from "./client.js";
export { desEncryptBlock, vncAuthKey, vncAuthResponse } from "./des.js";
export {
  createVncKeyDriver,
  VNC_DEFAULT_KEY_INTERVAL,
  type VncKeyboardOptions,
  type VncKeySender,
} from "./keyboard.js";
export { KEYSYM_SHIFT_L, QCODE_KEYSYMS, type QcodeKeysyms, qcodeKeysym, SHIFT_QCODES } from "./keysyms.js";
