/** What the double's tests send: a public key, and a create-server body as cloudcli sends it. */

export const KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5uPjG8tb2n3S6vQe1bA1V2QWd1n5qkXo1Hc3JvZm9vYmFy kiln";

/** POST /service/server's body for one small hourly server, with `extra` on top. */
export function createServerBody(
  name: string,
  image: string,
  extra: Record<string, unknown> = {},
): { name: string; image: string } & Record<string, unknown> {
  return {
    name,
    password: "__generate__",
    passwordValidate: "__generate__",
    datacenter: "EU",
    image,
    cpu: "1A",
    ram: "1024",
    disk: "size=10",
    dailybackup: "no",
    managed: "no",
    network: "name=wan,ip=auto",
    quantity: "1",
    billingcycle: "hourly",
    monthlypackage: "",
    poweronaftercreate: "",
    ...extra,
  };
}
