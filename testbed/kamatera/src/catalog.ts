/**
 * What the double's account offers: datacenters, public images per datacenter (each optionally
 * backed by a disk file the machines start from), CPU types with their cores and memory, disk
 * sizes — and the hard-disk library the account fills by cloning. Image resolution follows the
 * proxy (CS ProxyServerPostProcessingMethods validateDiskImageId): a plain [a-zA-Z0-9]+ value is
 * DC:value, X:Y must be of the datacenter, anything else is looked up by description in the
 * options' diskImages[DC], where library images are too.
 */
import { createHash, randomBytes } from "node:crypto";

export interface ImageDef {
  /** The name: diskImages description and images `name`. */
  name: string;
  os: string;
  sizeGB: number;
  /** A disk image file to start machines from (qcow2 for real guests). */
  file?: string;
}

export interface CatalogImage extends ImageDef {
  id: string;
  datacenter: string;
  code: string;
  /** An image of the account's hard-disk library (made by a clone), not a public one. */
  private: boolean;
}

export const DEFAULT_DATACENTERS: Record<string, string> = {
  EU: "EU: Amsterdam (kiln test bed)",
  IL: "IL: Rosh Haayin (kiln test bed)",
  "US-NY2": "US-NY2: New York (kiln test bed)",
};

export const DEFAULT_IMAGES: ImageDef[] = [
  { name: "ubuntu_server_24.04_64-bit", os: "Ubuntu", sizeGB: 10 },
  { name: "ubuntu_server_22.04_64-bit", os: "Ubuntu", sizeGB: 10 },
  { name: "debian_server_12_64-bit", os: "Debian", sizeGB: 10 },
  { name: "windows_server_2022_datacenter_64-bit", os: "Windows", sizeGB: 40 },
  { name: "kiln_appliance_64-bit", os: "Linux", sizeGB: 2 },
];

export const CPU_TYPES = [
  {
    id: "A",
    name: "Type A - Availability",
    description: "Shared cores",
    cpuCores: [1, 2, 4, 6, 8, 12, 16],
    ramMB: [256, 512, 1024, 2048, 4096, 8192, 16384],
  },
  {
    id: "B",
    name: "Type B - General Purpose",
    description: "Reserved cores",
    cpuCores: [1, 2, 4, 6, 8, 12, 16],
    ramMB: [1024, 2048, 4096, 8192, 16384],
  },
  {
    id: "T",
    name: "Type T - Burstable",
    description: "Burstable cores",
    cpuCores: [1, 2, 4],
    ramMB: [512, 1024, 2048, 4096],
  },
  {
    id: "D",
    name: "Type D - Dedicated",
    description: "Dedicated cores",
    cpuCores: [2, 4, 8, 16],
    ramMB: [2048, 4096, 8192, 16384],
  },
];

export const DISK_SIZES = [1, 2, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 250, 300, 400, 500, 1000];

const hexId = (seed: string) => `6000C29${createHash("sha1").update(seed).digest("hex").slice(0, 25)}`;

export class Catalog {
  readonly images: CatalogImage[] = [];

  constructor(
    readonly datacenters: Record<string, string> = DEFAULT_DATACENTERS,
    images: ImageDef[] = DEFAULT_IMAGES,
  ) {
    for (const dc of Object.keys(datacenters))
      for (const i of images)
        this.images.push({
          ...i,
          id: `${dc}:${hexId(`${dc}/${i.name}`)}`,
          datacenter: dc,
          code: i.name,
          private: false,
        });
  }

  inDatacenter(dc: string): CatalogImage[] {
    return this.images.filter((i) => i.datacenter === dc);
  }

  /** The image a create's `image` names, as the proxy resolves it; undefined when it does not. */
  resolve(image: string, dc: string): CatalogImage | undefined {
    const here = this.inDatacenter(dc);
    if (/^[a-zA-Z0-9]+$/.test(image)) return here.find((i) => i.id === `${dc}:${image}`);
    const m = /^([^:]+):(.+)$/.exec(image);
    if (m) return m[1] === dc ? here.find((i) => i.id === image) : undefined;
    return here.find((i) => i.name === image);
  }

  /** Register a library image (a clone's product). */
  addPrivate(dc: string, name: string, sizeGB: number, file: string): CatalogImage {
    const img: CatalogImage = {
      name,
      os: "Private",
      sizeGB,
      file,
      id: `${dc}:${randomBytes(16).toString("hex")}`,
      datacenter: dc,
      code: name,
      private: true,
    };
    this.images.push(img);
    return img;
  }

  library(): CatalogImage[] {
    return this.images.filter((i) => i.private);
  }
}

/** The proxy's generated password: 7 lower-case letters, 7 capitals, 4 digits, 2 of !@#$^&*()~ (CS ProxyServerHttpPostMethods.php). */
export function generatePassword(): string {
  const pick = (set: string, n: number) => {
    const chars = [...set];
    const out: string[] = [];
    const bytes = randomBytes(n * 4);
    for (let i = 0; i < n; i++) {
      const j = (bytes.readUInt32BE(i * 4) % chars.length) as number;
      out.push(chars.splice(j, 1)[0] as string); // str_shuffle + substr: no repeats within a group
    }
    return out.join("");
  };
  return (
    pick("abcdefghjklmnopqrstuvwxyz", 7) +
    pick("ABCDEFGHJKLMNOPQRSTUVWXYZ", 7) +
    pick("1234567890", 4) +
    pick("!@#$^&*()~", 2)
  );
}
