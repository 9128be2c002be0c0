import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, husk, leftovers, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

/**
 * Pods: the CRI annotations put a container into its sandbox's VM; delete
 * of the last container takes the VM with it.
 */

let env: E2eEnv;

describe.skipIf(!canRun)("pods share one VM", () => {
  beforeAll(() => {
    env = makeEnv("pod");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("sandbox container + a CRI container in one VM", { timeout: 300_000 }, async () => {
    const cri = (type: string) => ({ "io.kubernetes.cri.container-type": type, "io.kubernetes.cri.sandbox-id": "pod1" });
    const pause = makeBundle(env, "pause", ["sleep", "1000"], { annotations: cri("sandbox") });
    const app = makeBundle(env, "app", ["sh", "-c", "echo app-ran; sleep 1000"], { annotations: cri("container") });
    expect((await husk(env, ["run", "-d", "--bundle", pause, "pod1"])).code).toBe(0);
    const r = await husk(env, ["run", "-d", "--bundle", app, "app1"]);
    expect(r.code).toBe(0);
    const ex = await husk(env, ["exec", "app1", "echo", "in-app"]);
    expect(ex.stdout).toBe("in-app\n");
    expect(readdirSync(join(env.root, "sandboxes"))).toEqual(["pod1"]);
    const ids = JSON.parse((await husk(env, ["list", "--format", "json"])).stdout).map((s: { id: string }) => s.id);
    expect(ids.sort()).toEqual(["app1", "pod1"]);

    expect((await husk(env, ["delete", "--force", "app1"])).code).toBe(0);
    expect(readdirSync(join(env.root, "sandboxes"))).toEqual(["pod1"]);
    expect(JSON.parse((await husk(env, ["state", "pod1"])).stdout).status).toBe("running");
    expect((await husk(env, ["delete", "--force", "pod1"])).code).toBe(0);
    expect(leftovers(env)).toEqual([]);
  });

  test("the pod's containers share the pause container's network, IPC and UTS namespaces (as CRI asks), not its PID namespace", {
    timeout: 300_000,
  }, async () => {
    const cri = (type: string) => ({ "io.kubernetes.cri.container-type": type, "io.kubernetes.cri.sandbox-id": "pod2" });
    const pause = makeBundle(env, "pause2", ["sleep", "1000"], { annotations: cri("sandbox") });
    const ps = JSON.parse(readFileSync(join(pause, "config.json"), "utf8"));
    ps.hostname = "pod2-host";
    writeFileSync(join(pause, "config.json"), JSON.stringify(ps));
    expect((await husk(env, ["run", "-d", "--bundle", pause, "pod2"])).code).toBe(0);
    const pausePid = JSON.parse((await husk(env, ["state", "pod2"])).stdout).pid;
    // What CRI writes into a pod container's spec: the pause container's namespaces by its (host) pid.
    const app = makeBundle(env, "app2", ["sleep", "1000"], { annotations: cri("container") });
    const as = JSON.parse(readFileSync(join(app, "config.json"), "utf8"));
    delete as.hostname; // CRI sets the hostname on the sandbox only
    as.linux.namespaces = as.linux.namespaces.filter((n: { type: string }) => !["network", "ipc", "uts"].includes(n.type));
    for (const [type, file] of [
      ["network", "net"],
      ["ipc", "ipc"],
      ["uts", "uts"],
    ])
      as.linux.namespaces.push({ type, path: `/proc/${pausePid}/ns/${file}` });
    writeFileSync(join(app, "config.json"), JSON.stringify(as));
    expect((await husk(env, ["run", "-d", "--bundle", app, "app2"])).code).toBe(0);

    const ns = async (id: string) =>
      (await husk(env, ["exec", id, "sh", "-c", "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; hostname"])).stdout
        .trim()
        .split("\n");
    const [p, a] = [await ns("pod2"), await ns("app2")];
    expect(a.slice(0, 3)).toEqual(p.slice(0, 3)); // net, ipc, uts shared
    expect(a[3]).not.toBe(p[3]); // pid: its own
    expect(a[4]).toBe("pod2-host");
    // localhost between them: the app listens, the pause container connects.
    void husk(env, ["exec", "app2", "sh", "-c", "echo from-app | nc -l -p 7070"]);
    const got = await waitFor(
      async () => {
        const r = await husk(env, ["exec", "pod2", "sh", "-c", "nc 127.0.0.1 7070 </dev/null"]);
        return r.stdout.includes("from-app") ? r.stdout : undefined;
      },
      60_000,
      "the app on localhost",
    );
    expect(got).toContain("from-app");

    expect((await husk(env, ["delete", "--force", "app2"])).code).toBe(0);
    expect((await husk(env, ["delete", "--force", "pod2"])).code).toBe(0);
    expect(leftovers(env)).toEqual([]);
  });
});
