/** An HCL file → its body (items in order, comments placed), or an ImportError at the syntax error. */
import type { Body } from "./ast.js";
import { CstReader } from "./cst.js";
import { parseHcl } from "./parser.js";

export async function readHclFile(text: string, file: string): Promise<Body> {
  const tree = await parseHcl(text, file);
  try {
    return new CstReader(text, file).readFile(tree.rootNode);
  } finally {
    tree.delete();
  }
}
