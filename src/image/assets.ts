/**
 * The image's source files, embedded in the husk executable at compile time
 * so `husk image build` works from the single binary, without the repo.
 */
import kernelFragment from "../../image/kernel/husk.config" with { type: "text" };
import initScript from "../../image/init" with { type: "text" };

export const KERNEL_FRAGMENT: string = kernelFragment;
export const INIT_SCRIPT: string = initScript;
