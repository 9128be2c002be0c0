/**
 * Pods: containerd's CRI plugin and CRI-O mark each container of a pod with
 * its type and its sandbox's id. A "container" whose sandbox id names
 * another container joins that container's VM; the sandbox ("pause")
 * container, and any bundle without these annotations, gets a VM of its own.
 */
const TYPE_KEYS = ["io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"] as const;
const SANDBOX_KEYS = ["io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID"] as const;

export function podSandboxOf(containerId: string, annotations: Record<string, string> | undefined): string | undefined {
  if (!annotations) return undefined;
  for (let i = 0; i < TYPE_KEYS.length; i++) {
    const type = annotations[TYPE_KEYS[i]!];
    const sid = annotations[SANDBOX_KEYS[i]!];
    if (type === "container" && sid && sid !== containerId) return sid;
  }
  return undefined;
}
