import { describe, expect, it } from "vitest";
import { classifyStatus, nameFromLog, parseCommandIds } from "./commands.js";

describe("parseCommandIds", () => {
  it("accepts every shape the API answers with", () => {
    expect(parseCommandIds(["12"], "x")).toEqual(["12"]);
    expect(parseCommandIds([12, "13"], "x")).toEqual(["12", "13"]);
    expect(parseCommandIds(14, "x")).toEqual(["14"]);
    expect(parseCommandIds({ commandIds: ["15"], password: "secret" }, "x")).toEqual(["15"]);
    expect(parseCommandIds({ cmdId: 16 }, "x")).toEqual(["16"]);
  });
  it("anything else is a clear error, not a crash", () => {
    for (const bad of [[], null, {}, [null], { commandIds: "1" }, [{}], ""])
      expect(() => parseCommandIds(bad, "creating the server")).toThrow(
        /\[kamatera\] creating the server: the API answered .* not command ids/,
      );
  });
});

describe("classifyStatus", () => {
  it("complete is done, error and cancelled failed, absent/pending/running pending, the rest unknown", () => {
    expect(classifyStatus("complete")).toBe("done");
    expect(classifyStatus("error")).toBe("failed");
    expect(classifyStatus("cancelled")).toBe("failed");
    for (const s of [undefined, null, "", "pending", "running", "Running"])
      expect(classifyStatus(s)).toBe("pending");
    for (const s of ["paused", "weird", "completed"]) expect(classifyStatus(s)).toBe("unknown");
  });
});

describe("nameFromLog", () => {
  it("takes the Name: line", () => {
    expect(nameFromLog("Creating server\nName: kiln-web-1a2b3c4d-1\nIP: 1.2.3.4\n")).toBe(
      "kiln-web-1a2b3c4d-1",
    );
    expect(nameFromLog("no name here")).toBeUndefined();
    expect(nameFromLog(null)).toBeUndefined();
  });
});
