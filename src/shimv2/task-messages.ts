/**
 * The shim v2 task service and its messages (containerd.task.v2), in one
 * import: protoc writes one module per .proto file, and the messages are
 * split by concern across three (src/shimv2/proto/containerd/task/v2/).
 */
export * from "./gen/containerd/task/v2/shim_pb.ts";
export * from "./gen/containerd/task/v2/task_control_pb.ts";
export * from "./gen/containerd/task/v2/task_lifecycle_pb.ts";
export * from "./gen/containerd/task/v2/task_process_pb.ts";
