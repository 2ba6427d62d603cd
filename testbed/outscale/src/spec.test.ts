import { describe, expect, it } from "vitest";
import { createChecker, loadSubset } from "./spec.js";

const check = createChecker();

describe("the trimmed contract", () => {
  it("keeps source and licence", () => {
    const s = loadSubset();
    expect(s.source.licence).toMatch(/BSD-3-Clause/);
    expect(s.source.apiVersion).toBe("1.40.1");
  });
  it.each([
    ["CreateVms", {}, "7000", "MissingParameter", "ImageId"],
    ["CreateVms", { ImageId: "ami-1", Foo: 1 }, "3001", "InvalidParameter", "Foo"],
    ["CreateVms", { ImageId: 7 }, "4000", "InvalidParameterValue", "ImageId"],
    ["CreateVms", { ImageId: "ami-1", Performance: "fast" }, "4000", "InvalidParameterValue", "Performance"],
    ["ReadImages", { Filters: { Names: ["x"] } }, "3001", "InvalidParameter", "Filters.Names"],
    ["ReadImages", { Filters: { ImageIds: "ami-1" } }, "4000", "InvalidParameterValue", "Filters.ImageIds"],
    [
      "CreateTags",
      { ResourceIds: ["i-1"], Tags: [{ Key: "a" }] },
      "7000",
      "MissingParameter",
      "Tags[0].Value",
    ],
    ["CreateSecurityGroupRule", { SecurityGroupId: "sg-1" }, "7000", "MissingParameter", "Flow"],
    ["ReadVms", { NextPageToken: "not base64!" }, "4000", "InvalidParameterValue", "NextPageToken"],
    ["NoSuchAction", {}, "0", "DefaultError", "NoSuchAction"],
  ])("%s %j → %s %s", (action, body, code, type, name) => {
    const f = check.request(action, body);
    expect(f?.code).toBe(code);
    expect(f?.type).toBe(type);
    expect(f?.status).toBe(400);
    expect(f?.details).toContain(name);
  });
  it("accepts a well-formed request", () => {
    expect(
      check.request("CreateVms", {
        ImageId: "ami-1",
        VmType: "tinav5.c1r1p2",
        BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Bsu: { VolumeSize: 10, DeleteOnVmDeletion: true } }],
        DryRun: false,
      }),
    ).toBeUndefined();
  });
  it("checks responses", () => {
    expect(
      check.response("ReadVms", {
        Vms: [{ VmId: "i-1", State: "running" }],
        ResponseContext: { RequestId: "x" },
      }),
    ).toEqual([]);
    expect(check.response("ReadVms", { Vms: [{ VmId: 1 }] }).join()).toMatch(/VmId/);
  });
});
