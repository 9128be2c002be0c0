import type * as v from "valibot";

/**
 * A method table: name → request/response schemas. The channel is generic
 * over tables so the same machinery serves the guest agent (METHODS) and the
 * monitor's own control methods ("monitor.*").
 */
export interface MethodSpec {
  request: v.GenericSchema;
  response: v.GenericSchema;
}
export type MethodTable = Record<string, MethodSpec>;
export type EventTable = Record<string, v.GenericSchema>;

export type Req<T extends MethodTable, M extends keyof T> = v.InferOutput<T[M]["request"]>;
export type Res<T extends MethodTable, M extends keyof T> = v.InferOutput<T[M]["response"]>;
export type Ev<T extends EventTable, E extends keyof T> = v.InferOutput<T[E]>;

/** Prefix of methods the sandbox monitor answers itself instead of forwarding to the guest. */
export const MONITOR_PREFIX = "monitor.";
