export interface ScaffoldOptions {
  /** Folder to create (must be empty or absent). */
  dir: string;
  /** npm package name; default kiln-builder-<folder name>. */
  name?: string;
  /** Builder type users write in `type:`; default from the name. */
  type?: string;
}
export interface Scaffolded {
  dir: string;
  name: string;
  type: string;
  files: string[];
}
export function typeFromName(name: string): string;
export function scaffold(opts: ScaffoldOptions): Scaffolded;
export function main(argv: string[]): Promise<number>;
