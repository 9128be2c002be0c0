/** The runtime-spec version husk implements; alone in its file so `husk --version` loads no schema. */
export const OCI_VERSION = "1.0.2";
