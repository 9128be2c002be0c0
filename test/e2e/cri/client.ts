import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import * as C from "./gen/cri_pb.ts";

/**
 * A small CRI client (runtime.v1.RuntimeService over containerd's gRPC
 * socket), as the kubelet would call it: Debian 12 has no crictl.
 * Messages are the generated protobuf-es types; gRPC is @grpc/grpc-js.
 */
export class CriClient {
  private readonly client: grpc.Client;

  constructor(socket: string) {
    this.client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  call<I extends DescMessage, O extends DescMessage>(
    method: string,
    input: I,
    output: O,
    req: MessageInitShape<I>,
    timeoutMs = 300_000,
  ): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/runtime.v1.RuntimeService/${method}`,
        (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
        (b: Buffer) => fromBinary(output, b),
        create(input, req),
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => (err ? reject(new Error(`${method}: ${err.details || err.message}`)) : resolve(res!)),
      );
    });
  }

  version = () => this.call("Version", C.VersionRequestSchema, C.VersionResponseSchema, {});
  runPodSandbox = (config: MessageInitShape<typeof C.PodSandboxConfigSchema>, runtimeHandler: string) =>
    this.call("RunPodSandbox", C.RunPodSandboxRequestSchema, C.RunPodSandboxResponseSchema, { config, runtimeHandler });
  stopPodSandbox = (podSandboxId: string) =>
    this.call("StopPodSandbox", C.StopPodSandboxRequestSchema, C.StopPodSandboxResponseSchema, { podSandboxId });
  removePodSandbox = (podSandboxId: string) =>
    this.call("RemovePodSandbox", C.RemovePodSandboxRequestSchema, C.RemovePodSandboxResponseSchema, { podSandboxId });
  podSandboxStatus = (podSandboxId: string) =>
    this.call("PodSandboxStatus", C.PodSandboxStatusRequestSchema, C.PodSandboxStatusResponseSchema, { podSandboxId });
  createContainer = (
    podSandboxId: string,
    config: MessageInitShape<typeof C.ContainerConfigSchema>,
    sandboxConfig: MessageInitShape<typeof C.PodSandboxConfigSchema>,
  ) =>
    this.call("CreateContainer", C.CreateContainerRequestSchema, C.CreateContainerResponseSchema, { podSandboxId, config, sandboxConfig });
  startContainer = (containerId: string) =>
    this.call("StartContainer", C.StartContainerRequestSchema, C.StartContainerResponseSchema, { containerId });
  stopContainer = (containerId: string, timeout: number) =>
    this.call("StopContainer", C.StopContainerRequestSchema, C.StopContainerResponseSchema, { containerId, timeout: BigInt(timeout) });
  removeContainer = (containerId: string) =>
    this.call("RemoveContainer", C.RemoveContainerRequestSchema, C.RemoveContainerResponseSchema, { containerId });
  containerStatus = (containerId: string) =>
    this.call("ContainerStatus", C.ContainerStatusRequestSchema, C.ContainerStatusResponseSchema, { containerId });
  execSync = (containerId: string, cmd: string[], timeout = 60) =>
    this.call("ExecSync", C.ExecSyncRequestSchema, C.ExecSyncResponseSchema, { containerId, cmd, timeout: BigInt(timeout) });
  containerStats = (containerId: string) =>
    this.call("ContainerStats", C.ContainerStatsRequestSchema, C.ContainerStatsResponseSchema, { containerId });
}

export { C };
